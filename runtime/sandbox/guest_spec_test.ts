import assert from "node:assert/strict";
import { guestResources, guestSpec, isDiskMount } from "./_guest_spec.ts";

Deno.test({
  name:
    "guestSpec() drops host namespace paths and the network namespace, adds a cgroup namespace, keeps sysctls",
  permissions: "none",
  fn() {
    const raw = {
      ociVersion: "1.0.2",
      root: { path: "/host/rootfs" },
      hooks: { prestart: [{ path: "/usr/bin/hook" }] },
      linux: {
        namespaces: [{ type: "pid" }, { type: "network", path: "/var/run/netns/pod" }, {
          type: "ipc",
          path: "/proc/1/ns/ipc",
        }],
        sysctl: { "net.ipv4.ping_group_range": "0 0", "kernel.msgmax": "8192" },
      },
    };
    const out = guestSpec(raw, { rootPath: "/guest/rootfs", mounts: [], mountSources: [] });
    assert.deepEqual(out["root"], { path: "/guest/rootfs" });
    assert.equal(out["hooks"], undefined);
    const linux = out["linux"] as { namespaces: unknown[]; sysctl: Record<string, string> };
    assert.deepEqual(linux.namespaces, [{ type: "pid" }, { type: "cgroup" }], "own cgroup namespace added");
    assert.deepEqual(linux.sysctl, { "net.ipv4.ping_group_range": "0 0", "kernel.msgmax": "8192" });
  },
});

Deno.test({
  name: "isDiskMount() attaches block devices outside /dev and image files mounted with a disk type",
  permissions: "none",
  fn() {
    const file = { isFile: true, isBlockDevice: false };
    const blk = { isFile: false, isBlockDevice: true };
    assert.ok(isDiskMount({ destination: "/data", type: "ext4", source: "/srv/vol.img" }, file));
    assert.ok(!isDiskMount({ destination: "/etc/hosts", type: "bind", source: "/srv/hosts" }, file));
    assert.ok(!isDiskMount({ destination: "/data", type: "ext4", source: "vol.img" }, file), "relative");
    assert.ok(isDiskMount({ destination: "/data", type: "bind", source: "/dev/loop3" }, blk));
    assert.ok(!isDiskMount({ destination: "/dev/xvdb", type: "bind", source: "/dev/loop3" }, blk));
    assert.ok(!isDiskMount({ destination: "/data", type: "tmpfs", source: "tmpfs" }, file));
  },
});

Deno.test("guestResources() drops host cpuset numbers and cgroup-v1-only kernel memory limits", () => {
  assert.deepEqual(
    guestResources({
      memory: { limit: 314572800, swap: 629145600, kernel: 0, kernelTCP: 0 },
      cpu: { shares: 512, cpus: "2-3", mems: "0" },
      pids: { limit: 100 },
    }),
    { memory: { limit: 314572800, swap: 629145600 }, cpu: { shares: 512 }, pids: { limit: 100 } },
  );
});

Deno.test("guestSpec() gives a spec without a /dev mount a guest tmpfs there (no device nodes on the share)", () => {
  const raw = { ociVersion: "1.0.2", root: { path: "/r" }, mounts: [{ destination: "/proc", type: "proc" }] };
  const without = guestSpec(raw, {
    rootPath: "/g",
    mounts: [{ destination: "/proc", type: "proc" }],
    mountSources: [undefined],
  });
  assert.deepEqual((without["mounts"] as { destination: string; type: string }[]).map((m) => m.destination), [
    "/dev",
    "/proc",
  ]);
  const dev = [{ destination: "/dev/", type: "tmpfs" }];
  const withDev = guestSpec({ ...raw, mounts: dev }, {
    rootPath: "/g",
    mounts: dev,
    mountSources: [undefined],
  });
  assert.equal((withDev["mounts"] as unknown[]).length, 1);
});
