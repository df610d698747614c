/**
 * OCI semantics a VM can honour, through the installed program (`cocoon run --bundle`): a user
 * namespace with uid/gid mappings, `rshared` mount propagation, `net.*` and other sysctls, a
 * container with NET_ADMIN making a bridge and a veth pair, a cpuset and memory limit larger than
 * the VM (the VM is sized from them), and the refusal to join a host namespace by path.
 */
import assert from "node:assert/strict";
import { hostCanBoot, pidsMatching, withOciWorld } from "./oci_world.ts";
import { minimalSpec } from "../../runtime/oci/spec.ts";

const canRun = await hostCanBoot();
const opts = { ignore: !canRun, sanitizeResources: false, sanitizeOps: false };

Deno.test({
  name: "a user namespace, rshared propagation, sysctls, NET_ADMIN bridges and VM sizing work in the guest",
  ...opts,
  async fn() {
    await withOciWorld(async (w) => {
      const vol = `${w.dir}/vol`;
      await Deno.mkdir(vol);
      await Deno.mkdir(`${w.rootfs}/data`, { recursive: true });
      const caps = ["CAP_NET_ADMIN", "CAP_SYS_ADMIN", "CAP_SETUID", "CAP_SETGID"];
      const specOf = (script: string[], linux: Record<string, unknown>): Record<string, unknown> => {
        const spec = minimalSpec(["sh", "-c", script.join("; ")], {
          terminal: false,
          rootfs: w.rootfs,
        }) as unknown as Record<
          string,
          unknown
        >;
        spec["process"] = {
          ...(spec["process"] as Record<string, unknown>),
          capabilities: { bounding: caps, effective: caps, permitted: caps },
        };
        spec["mounts"] = [
          ...(spec["mounts"] as unknown[]),
          {
            destination: "/sys/fs/cgroup",
            type: "cgroup",
            source: "cgroup",
            options: ["nosuid", "noexec", "nodev", "ro"],
          },
          { destination: "/data", type: "bind", source: vol, options: ["rbind", "rw", "rshared"] },
        ];
        spec["linux"] = { ...(spec["linux"] as Record<string, unknown>), ...linux };
        return spec;
      };
      const runSpec = async (name: string, spec: unknown) => {
        const b = `${w.dir}/${name}`;
        await Deno.mkdir(b);
        await Deno.writeTextFile(`${b}/config.json`, JSON.stringify(spec));
        return await w.cocoon(["run", "--bundle", b, name]);
      };
      const linesOf = (out: string) => out.trim().split("\n").map((l) => l.trim().replace(/\s+/g, " "));

      // A user namespace with mappings, and a shared bind mount.
      const base = minimalSpec(["true"], { terminal: false, rootfs: w.rootfs });
      const ns = (base.linux as { namespaces?: unknown[] } | undefined)?.namespaces ?? [];
      const user = await runSpec(
        "sem-user",
        specOf(["cat /proc/self/uid_map", "grep ' /data ' /proc/self/mountinfo | grep -c shared:"], {
          namespaces: [...ns, { type: "user" }],
          uidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }],
          gidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }],
          rootfsPropagation: "rshared",
        }),
      );
      assert.equal(user.code, 0, user.stderr);
      assert.deepEqual(linesOf(user.stdout), ["0 100000 65536", "1"]);

      // Sysctls (net.* in the pod's network namespace), NET_ADMIN making links, and a cpuset and a
      // memory limit that size the VM (1 + 1 vCPUs with default_maxvcpus = 2 here).
      const net = await runSpec(
        "sem-net",
        specOf([
          "cat /proc/sys/net/ipv4/ip_local_port_range /proc/sys/kernel/shm_rmid_forced",
          "ip link add br9 type bridge && ip link add v0 type veth peer name v1 && echo links-made",
          "nproc",
          "cat /sys/fs/cgroup/memory.max",
        ], {
          sysctl: { "net.ipv4.ip_local_port_range": "20000 30000", "kernel.shm_rmid_forced": "1" },
          resources: { cpu: { cpus: "0" }, memory: { limit: 128 * 1024 * 1024 } },
        }),
      );
      assert.equal(net.code, 0, net.stderr);
      assert.deepEqual(linesOf(net.stdout), [
        "20000 30000",
        "1",
        "links-made",
        "2",
        String(128 * 1024 * 1024),
      ]);

      // Joining another process's namespace by path cannot happen from a VM: refused, nothing left.
      const j = await runSpec(
        "join1",
        specOf(["true"], { namespaces: [{ type: "ipc", path: "/proc/1/ns/ipc" }] }),
      );
      assert.notEqual(j.code, 0);
      assert.match(j.stderr, /join the ipc namespace "\/proc\/1\/ns\/ipc"/);
      assert.deepEqual(await pidsMatching(w.root, "qemu-system"), []);
    });
  },
});
