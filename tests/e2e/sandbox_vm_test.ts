/**
 * A real sandbox: QEMU (TCG here) + the guest image + the real agent + crun in the guest. A busybox
 * rootfs directory reaches the guest over 9p; containers print "hi" and exit 0, 7 and 137; a second
 * runtime (a "new process") re-attaches; delete leaves no QEMU, socket, mount or state directory.
 *
 * The default guest image uses Debian's cloud kernel, which has no 9p: this test builds (once, then
 * cached by content hash) the same image with the generic kernel flavour.
 */
import assert from "node:assert/strict";
import { makeBusyboxRootfs } from "../../agent/testing/rootfs.ts";
import { resolveConfig } from "../../runtime/config/resolve.ts";
import { buildGuestImage, DEFAULT_GUEST_MODULES, type GuestImage } from "../../runtime/guest/mod.ts";
import { createLogger, type LogSink } from "../../runtime/log/logger.ts";
import { minimalSpec, parseOciSpec } from "../../runtime/oci/spec.ts";
import { openSandboxRuntime, Sandbox, type SandboxRuntime } from "../../runtime/sandbox/mod.ts";

const canRun = await hostCanBoot();
const opts = { ignore: !canRun, sanitizeResources: false, sanitizeOps: false };

async function hostCanBoot(): Promise<boolean> {
  for (const bin of ["qemu-system-x86_64", "apt-get", "mkfs.erofs", "depmod", "mount"]) {
    const r = await new Deno.Command("sh", {
      args: ["-c", `command -v ${bin}`],
      stdout: "null",
      stderr: "null",
    })
      .output().catch(() => null);
    if (r === null || !r.success) return false;
  }
  return Deno.uid() === 0;
}

/**
 * The guest image with a kernel that has 9p (generic flavour), built once and cached. The generic
 * kernel builds crc32c as a module that erofs needs through libcrc32c's soft dependency, which
 * modules.dep does not list, so it is named first.
 */
export async function guestImageWith9p(): Promise<GuestImage> {
  return await buildGuestImage({
    kernelFlavour: "generic",
    modules: ["crc32c_generic", ...DEFAULT_GUEST_MODULES],
    setCurrent: false,
  });
}

const logLines: string[] = [];
const sink: LogSink = { write: (l) => void logLines.push(l) };

async function runtimeFor(dir: string, image: GuestImage): Promise<SandboxRuntime> {
  const cfg = resolveConfig({
    hypervisor: {
      qemu: {
        kernel: image.kernel,
        initrd: image.initrd,
        image: image.rootfs ?? "",
        accelerator: Deno.env.get("COCOON_TEST_ACCEL") === "kvm" ? "kvm" : "tcg",
        default_memory: 512,
        default_maxmemory: 1024,
        default_maxvcpus: 2,
      },
    },
    runtime: { state_dir: `${dir}/run`, store: "fs", internetworking_model: "none" },
    agent: { dial_timeout: 90, enable_debug: Deno.env.get("COCOON_E2E_DEBUG") === "1" },
  }, { file: "e2e", dropIns: [] });
  return await openSandboxRuntime(cfg, { log: createLogger({ sink, level: "debug" }) });
}

async function qemuPids(marker: string): Promise<number[]> {
  const out: number[] = [];
  for await (const e of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    const cmd = await Deno.readTextFile(`/proc/${e.name}/cmdline`).catch(() => "");
    if (cmd.includes("qemu-system") && cmd.includes(marker)) out.push(Number(e.name));
  }
  return out;
}

async function mountsUnder(dir: string): Promise<string[]> {
  const text = await Deno.readTextFile("/proc/self/mountinfo");
  return text.split("\n").map((l) => l.split(" ")[4] ?? "").filter((m) => m.startsWith(dir));
}

async function socketsUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for await (const e of Deno.readDir(d)) {
      const p = `${d}/${e.name}`;
      if (e.isDirectory) await walk(p);
      else if ((await Deno.lstat(p)).isSocket) out.push(p);
    }
  };
  await walk(dir).catch(() => {});
  return out;
}

const spec = (args: string[]) => parseOciSpec(minimalSpec(args), "e2e");

Deno.test({
  name:
    "Sandbox on real QEMU runs busybox from a 9p rootfs: stdout, exit codes 0/7/137, re-attach, clean delete",
  ...opts,
  async fn() {
    const image = await guestImageWith9p();
    const dir = await Deno.makeTempDir({ prefix: "cocoon-e2e-" });
    const id = `e2e-${crypto.randomUUID().slice(0, 8)}`;
    let sb: Sandbox | undefined;
    try {
      const rootfs = await makeBusyboxRootfs(dir);
      const rt = await runtimeFor(dir, image);
      const t0 = performance.now();
      sb = await Sandbox.create(rt, { id });
      const readyMs = performance.now() - t0;
      assert.equal(sb.status().kind, "ready");
      assert.equal((await qemuPids(id)).length, 1);

      await sb.createContainer({ id: `${id}-echo`, spec: spec(["echo", "hi"]), rootfs });
      const out = new Response(sb.io(`${id}-echo`).stdout).text();
      await sb.startContainer(`${id}-echo`);
      assert.equal((await sb.wait(`${id}-echo`)).exitStatus, 0);
      assert.equal(await out, "hi\n");

      await sb.createContainer({ id: `${id}-seven`, spec: spec(["sh", "-c", "exit 7"]), rootfs });
      await sb.startContainer(`${id}-seven`);
      assert.equal((await sb.wait(`${id}-seven`)).exitStatus, 7);

      await sb.createContainer({ id: `${id}-sleep`, spec: spec(["sleep", "600"]), rootfs });
      await sb.startContainer(`${id}-sleep`);
      const ex = await sb.exec(`${id}-sleep`, {
        execId: "ls",
        process: spec(["ls", "/bin/busybox"]).process!,
      });
      assert.equal(ex.status.kind, "running");
      assert.equal((await sb.waitExec(`${id}-sleep`, "ls")).exitStatus, 0);

      // A second runtime (as a new process would) takes over the sandbox.
      sb.release();
      const rt2 = await runtimeFor(dir, image);
      sb = await Sandbox.fetch(rt2, id);
      assert.equal((await sb.container(`${id}-sleep`)).status.kind, "running");
      await sb.kill(`${id}-sleep`, "KILL");
      assert.equal((await sb.wait(`${id}-sleep`)).exitStatus, 137);

      for (const c of ["echo", "seven", "sleep"]) await sb.deleteContainer(`${id}-${c}`);
      await sb.delete();
      sb = undefined;
      assert.deepEqual(await qemuPids(id), []);
      assert.deepEqual(await mountsUnder(dir), []);
      assert.deepEqual(await socketsUnder(`${dir}/run`), []);
      await assert.rejects(Deno.stat(`${dir}/run/sandboxes/${id}`), Deno.errors.NotFound);
      assert.deepEqual((await Array.fromAsync(Deno.readDir(`${dir}/run/sandboxes`))).length, 0);
      // deno-lint-ignore no-console
      console.log(`sandbox ready in ${Math.round(readyMs)} ms (TCG)`);
    } catch (e) {
      const consoleLog = await Deno.readTextFile(`${dir}/run/sandboxes/${id}/console.log`).catch(() => "");
      // deno-lint-ignore no-console
      console.error(
        `--- console tail ---\n${consoleLog.slice(-4000)}\n--- log tail ---\n${logLines.slice(-40).join("")}`,
      );
      throw e;
    } finally {
      if (sb !== undefined) await sb.delete({ force: true }).catch(() => {});
      for (const pid of await qemuPids(id)) Deno.kill(pid, "SIGKILL");
      for (const m of (await mountsUnder(dir)).reverse()) {
        await new Deno.Command("umount", { args: ["-l", m] }).output();
      }
      await Deno.remove(dir, { recursive: true });
    }
  },
});
