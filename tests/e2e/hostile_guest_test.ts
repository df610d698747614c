/**
 * A hostile guest, on real QEMU (TCG here): guest root is driven through the debug console
 * (`cocoon exec-guest`, the installed program; never a production RPC) and attacks the host
 * through what it shares with it, once over virtio-9p and once over virtio-fs (when a virtiofsd
 * runs here):
 *
 * - plants a symbolic link and a directory where the host will mount the next container's files,
 *   and swaps a container's mounts directory: refused (the share's tree is a read-only view), and
 *   the host then creates that container with no host path outside the sandbox touched;
 * - writes to a read-only volume and to a read-only rootfs through the share: refused, host bytes
 *   unchanged (the read-only rootfs also gets the mount point it lacked);
 * - makes a setuid-root copy of a shell and a /dev/mem device node in a writable volume: the host
 *   sees neither a setuid file nor a device (a plain file is made: the volume is writable);
 * - floods the serial console: the host's console log stays under its cap;
 * - and the host checks that QEMU and virtiofsd run under the seccomp filters, and that a pod is
 *   refused the host's own network namespace.
 *
 * Skipped unless RUNTIME_E2E=1 (or COCOON_E2E=1) and the host can boot guests.
 */
import assert from "node:assert/strict";
import { makeBusyboxRootfs } from "../../agent/testing/rootfs.ts";
import { createSandbox, type Sandbox } from "../../mod.ts";
import { minimalSpec } from "../../runtime/oci/spec.ts";
import { findVirtiofsd } from "../../runtime/sys/virtiofsd.ts";
import { cgroupMounts } from "../../runtime/sys/host_cgroup.ts";
import { ensureGuestImage } from "../utils/guest.ts";
import { cocoonBin } from "../utils/program.ts";
import { hostCanBoot, pidsMatching, qemuPids, scrub } from "./sandbox_util.ts";

const enabled = (Deno.env.get("RUNTIME_E2E") === "1" || Deno.env.get("COCOON_E2E") === "1") &&
  await hostCanBoot();
const haveVirtiofsd = await findVirtiofsd("/usr/libexec/virtiofsd").then(() => true, () => false);
const dec = new TextDecoder();
const CONSOLE_CAP = 65536;
const SHARE = "/run/cocoon/shared/run/cocoon/containers";
/** Index of the first extra mount in {@link spec}: its guest path is `<container>/mounts/<index>`. */
const FIRST = (minimalSpec([])["mounts"] as unknown[]).length;

/** Runs a script as guest root on the debug console; its output. */
async function guestRoot(configPath: string, id: string, script: string): Promise<string> {
  const c = new Deno.Command(cocoonBin(), {
    args: ["--config", configPath, "exec-guest", id],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = c.stdin.getWriter();
  await w.write(new TextEncoder().encode(`${script}\nexit 0\n`));
  await w.close();
  const out = await c.output();
  const text = dec.decode(out.stdout) + dec.decode(out.stderr);
  assert.equal(out.code, 0, `exec-guest: ${text}`);
  return text;
}

/** `/proc/<pid>/status` fields. */
/** True when this process can make a memory cgroup (a host whose cgroup tree is read-only cannot). */
async function memoryCgroupsWritable(): Promise<boolean> {
  for (const m of cgroupMounts(await Deno.readTextFile("/proc/self/mountinfo"))) {
    const v2 = m.controllers[0] === "";
    if (!v2 && !m.controllers.includes("memory")) continue;
    if (
      v2 &&
      !(await Deno.readTextFile(`${m.mountPoint}/cgroup.controllers`).catch(() => "")).includes("memory")
    ) {
      continue;
    }
    const probe = `${m.mountPoint}/cocoon-probe-${crypto.randomUUID().slice(0, 8)}`;
    try {
      await Deno.mkdir(probe);
      await Deno.remove(probe);
      return true;
    } catch {
      // read-only here
    }
  }
  return false;
}

/** The memory limit of the cgroup `pid` is in (v1 or v2), as the file says it. */
async function vmmMemoryLimit(pid: number): Promise<string | undefined> {
  const groups = await Deno.readTextFile(`/proc/${pid}/cgroup`);
  for (const m of cgroupMounts(await Deno.readTextFile("/proc/self/mountinfo"))) {
    const v2 = m.controllers[0] === "";
    if (!v2 && !m.controllers.includes("memory")) continue;
    const line = groups.split("\n").find((l) =>
      v2 ? l.startsWith("0::") : /^\d+:[^:]*\bmemory\b[^:]*:/.test(l)
    );
    const path = line?.split(":").slice(2).join(":");
    if (path === undefined) continue;
    const file = `${m.mountPoint}${path}/${v2 ? "memory.max" : "memory.limit_in_bytes"}`;
    const text = await Deno.readTextFile(file).catch(() => undefined);
    if (text !== undefined) return text.trim();
  }
  return undefined;
}

async function procStatus(pid: number): Promise<Record<string, string>> {
  const text = await Deno.readTextFile(`/proc/${pid}/status`);
  return Object.fromEntries(text.split("\n").map((l) => l.split(/:\s*/, 2) as [string, string]));
}

function bindMount(source: string, destination: string, ro = false) {
  return { destination, type: "bind", source, options: ro ? ["rbind", "ro"] : ["rbind"] };
}

/** A busybox spec that sleeps, with extra mounts (and a read-only root when asked). */
function spec(rootfs: string, mounts: unknown[], readonlyRoot = false): Record<string, unknown> {
  const s = minimalSpec(["sleep", "3600"], { rootfs });
  return {
    ...s,
    mounts: [...(s["mounts"] as unknown[]), ...mounts],
    ...(readonlyRoot ? { root: { path: rootfs, readonly: true } } : {}),
  };
}

for (const sharedFs of ["virtio-9p", "virtio-fs"] as const) {
  Deno.test({
    name:
      `hostile guest root over ${sharedFs}: no host path, read-only byte, setuid file, device or console byte past its cap`,
    ignore: !enabled || (sharedFs === "virtio-fs" && !haveVirtiofsd),
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      const image = await ensureGuestImage();
      const dir = await Deno.makeTempDir({ prefix: "cocoon-hostile-" });
      const id = `hostile-${crypto.randomUUID().slice(0, 6)}`;
      const configPath = `${dir}/configuration.toml`;
      let sb: Sandbox | undefined;
      try {
        await Deno.writeTextFile(
          configPath,
          [
            "[hypervisor.qemu]",
            `kernel = ${JSON.stringify(image.kernel)}`,
            `initrd = ${JSON.stringify(image.initrd)}`,
            `image = ${JSON.stringify(image.rootfs ?? "")}`,
            `accelerator = "${Deno.env.get("COCOON_TEST_ACCEL") === "kvm" ? "kvm" : "tcg"}"`,
            `shared_fs = "${sharedFs}"`,
            `console_log_max_bytes = ${CONSOLE_CAP}`,
            "[runtime]",
            `state_dir = ${JSON.stringify(`${dir}/run`)}`,
            'internetworking_model = "none"',
            "[agent]",
            "dial_timeout = 90",
            "debug_console_enabled = true",
            "",
          ].join("\n"),
        );
        const rootfs = await makeBusyboxRootfs(dir);
        const victim = `${dir}/victim`;
        const rw = `${dir}/vol-rw`;
        const ro = `${dir}/vol-ro`;
        for (const d of [victim, rw, ro]) await Deno.mkdir(d);
        await Deno.writeTextFile(`${ro}/f`, "host bytes");

        // Every breach is collected, so that one run names all of them.
        const breaches: string[] = [];
        const expect = (ok: boolean, what: string) => {
          if (!ok) breaches.push(what);
        };

        // the host's own network namespace is refused before anything is made
        const hostnet = await createSandbox({ id: `${id}-hostnet`, configPath, netns: "/proc/self/ns/net" })
          .then(async (s) => {
            await s.delete({ force: true });
            return "created";
          }, (e: unknown) => String(e));
        expect(/it is the host's own/.test(hostnet), `a pod got the host's network namespace: ${hostnet}`);

        sb = await createSandbox({ id, configPath, vcpus: 1, memoryMiB: 512 });
        const spec1 = spec(rootfs, [bindMount(rw, "/rw"), bindMount(ro, "/ro", true)]);
        await sb.createContainer({ id: "c1", rootfs, spec: spec1 });
        await sb.startContainer("c1");

        // QEMU (and virtiofsd) run with no new privileges under seccomp: QEMU's filter and ours
        const qemu = await qemuPids(`${dir}/run`);
        assert.equal(qemu.length, 1);
        const helpers = sharedFs === "virtio-fs"
          ? [
            ...qemu,
            ...await pidsMatching((c) =>
              c.includes("/virtiofsd\0") && !c.includes("qemu-system") && c.includes(dir)
            ),
          ]
          : qemu;
        for (const pid of helpers) {
          const st = await procStatus(pid);
          const least = qemu.includes(pid) ? 2 : 1;
          expect(
            st["NoNewPrivs"] === "1" && st["Seccomp"] === "2" && Number(st["Seccomp_filters"]) >= least,
            `pid ${pid} (${qemu.includes(pid) ? "QEMU" : "virtiofsd"}) is not confined: NoNewPrivs ${
              st["NoNewPrivs"]
            }, Seccomp ${st["Seccomp"]}, ${st["Seccomp_filters"]} filters`,
          );
        }

        // QEMU runs as a uid of its own, with no capabilities but what virtio-9p needs, in its own
        // mount namespace, in a cgroup bounded at the VM's memory plus the overhead (512 + 512 MiB)
        const [vmm] = qemu;
        if (vmm !== undefined) {
          const st = await procStatus(vmm);
          const uids = (st["Uid"] ?? "").split(/\s+/).map(Number);
          expect(
            uids.length === 4 && uids.every((u) => u === uids[0] && u >= 0x7000_0000),
            `QEMU runs as uid ${st["Uid"]}, not a VM uid of its own`,
          );
          const caps = sharedFs === "virtio-9p" ? "000000000000000b" : "0000000000000000";
          expect(
            st["CapEff"] === caps && st["CapBnd"] === caps,
            `QEMU has capabilities ${st["CapEff"]}/${st["CapBnd"]}`,
          );
          expect(
            await Deno.readLink(`/proc/${vmm}/ns/mnt`) !== await Deno.readLink("/proc/self/ns/mnt"),
            "QEMU shares the host's mount namespace",
          );
          const limit = await vmmMemoryLimit(vmm);
          if (await memoryCgroupsWritable()) {
            expect(limit === String(1024 * 1024 * 1024), `QEMU's cgroup memory limit is ${limit}, not 1 GiB`);
          } else {
            // deno-lint-ignore no-console -- says which check this host could not make
            console.log("QEMU's memory bound not checked: this host's memory cgroups cannot be made here");
          }
        }

        const attack = await guestRoot(
          configPath,
          id,
          [
            `C=${SHARE}`,
            `ln -s ${victim} $C/c2 2>/dev/null && echo PLANT-LINK-MADE || echo PLANT-LINK-REFUSED`,
            "mkdir $C/c2-dir 2>/dev/null && echo PLANT-DIR-MADE || echo PLANT-DIR-REFUSED",
            "mv $C/c1/mounts $C/c1/moved 2>/dev/null && mv $C/c1/moved $C/c1/mounts && echo SWAP-MADE || echo SWAP-REFUSED",
            `echo guest > $C/c1/mounts/${
              FIRST + 1
            }/f 2>/dev/null && echo RO-WRITE-MADE || echo RO-WRITE-REFUSED`,
            `cp /bin/sh $C/c1/mounts/${FIRST}/suid && chmod 4755 $C/c1/mounts/${FIRST}/suid 2>/dev/null; echo SUID-TRIED`,
            `mknod $C/c1/mounts/${FIRST}/mem c 1 1 2>/dev/null && echo MKNOD-MADE || echo MKNOD-REFUSED`,
            `echo guest > $C/c1/mounts/${FIRST}/plain && echo PLAIN-MADE`,
          ].join("\n"),
        );
        for (const m of ["PLANT-LINK", "PLANT-DIR", "SWAP", "RO-WRITE", "MKNOD"]) {
          expect(attack.includes(`${m}-REFUSED`), `guest root could ${m.toLowerCase()} in the share`);
        }
        assert.ok(attack.includes("PLAIN-MADE"), `the writable volume works: ${attack}`);
        expect(await Deno.readTextFile(`${ro}/f`) === "host bytes", "a read-only volume's host file changed");
        const suid = await Deno.lstat(`${rw}/suid`);
        expect(((suid.mode ?? 0) & 0o6000) === 0, "a setuid-root file exists on the host");
        const mem = await Deno.lstat(`${rw}/mem`).catch(() => undefined);
        expect(mem === undefined || !mem.isCharDevice, "a /dev/mem device node exists on the host");
        assert.equal(await Deno.readTextFile(`${rw}/plain`), "guest\n");

        // the host now mounts the next container's files: nothing outside the sandbox changes
        await sb.createContainer({ id: "c2", rootfs, spec: spec(rootfs, [bindMount(rw, "/data")]) })
          .catch((e) => breaches.push(`the next container could not be created: ${e}`));
        expect([...Deno.readDirSync(victim)].length === 0, "a host directory outside the sandbox changed");

        // a read-only rootfs is read-only on the host; its missing mount point was made first
        const rootfs3 = `${dir}/rootfs3`;
        await new Deno.Command("cp", { args: ["-a", rootfs, rootfs3] }).output();
        const spec3 = spec(rootfs3, [bindMount(rw, "/new-mount-point")], true);
        await sb.createContainer({ id: "c3", rootfs: rootfs3, spec: spec3 });
        await sb.startContainer("c3");
        const ro3 = await guestRoot(
          configPath,
          id,
          `touch ${SHARE}/c3/rootfs/hacked 2>/dev/null && echo ROOT-WRITE-MADE || echo ROOT-WRITE-REFUSED`,
        );
        expect(
          ro3.includes("ROOT-WRITE-REFUSED"),
          "guest root wrote to a read-only rootfs through the share",
        );
        expect(!(await Deno.lstat(`${rootfs3}/hacked`).then(() => true, () => false)), "host rootfs changed");

        // the console: 512 KiB printed by guest root, the host keeps at most its cap
        const consoleLog = `${dir}/run/sandboxes/${id}/console.log`;
        let largest = 0;
        let flooding = true;
        const watch = (async () => {
          while (flooding) {
            largest = Math.max(largest, await Deno.stat(consoleLog).then((s) => s.size, () => 0));
            await new Promise((r) => setTimeout(r, 50));
          }
        })();
        await guestRoot(configPath, id, "head -c 524288 /dev/zero | tr '\\0' x > /dev/ttyS0; echo FLOODED");
        await new Promise((r) => setTimeout(r, 1500));
        flooding = false;
        await watch;
        const size = (await Deno.stat(consoleLog)).size;
        // deno-lint-ignore no-console -- the figure for the closing note
        console.log(
          `console log after a 512 KiB flood: ${size} bytes (largest seen ${largest}, cap ${CONSOLE_CAP})`,
        );
        expect(size <= CONSOLE_CAP, `the console log is ${size} bytes, over its cap ${CONSOLE_CAP}`);
        expect(largest < 524288, `the console log held the whole flood (largest ${largest})`);
        assert.deepEqual(breaches, []);

        await sb.delete({ force: true });
        sb = undefined;
        assert.deepEqual(await qemuPids(`${dir}/run`), []);
        assert.deepEqual(await Array.fromAsync(Deno.readDir(`${dir}/run/sandboxes`)), []);
      } finally {
        await sb?.delete({ force: true }).catch(() => {});
        await scrub(dir, id);
        await Deno.remove(dir, { recursive: true }).catch(() => {});
      }
    },
  });
}
