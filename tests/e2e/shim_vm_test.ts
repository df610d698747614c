/**
 * containerd 1.6 → containerd-shim-cocoon-v2 → the detached `cocoon daemon` → real QEMU (TCG here)
 * with the guest image and agent → crun in the guest. Nothing is faked: the shim starts the daemon,
 * the daemon boots one VM per pod, a busybox rootfs directory reaches the guest over 9p.
 *
 * The guest image is the generic-kernel flavour (it has 9p), built once and cached by content hash.
 */
import assert from "node:assert/strict";
import { makeBusyboxRootfs } from "../../agent/testing/rootfs.ts";
import { buildGuestImage, DEFAULT_GUEST_MODULES, type GuestImage } from "../../runtime/guest/mod.ts";
import { pidsMentioning, topicsOf, withShimWorld } from "../integration/shim_harness.ts";

async function hostCanBoot(): Promise<boolean> {
  for (const bin of ["qemu-system-x86_64", "apt-get", "mkfs.erofs", "depmod", "mount", "containerd", "ctr"]) {
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

const opts = { ignore: !(await hostCanBoot()), sanitizeResources: false, sanitizeOps: false };

function guestImage(): Promise<GuestImage> {
  return buildGuestImage({
    kernelFlavour: "generic",
    modules: ["crc32c_generic", ...DEFAULT_GUEST_MODULES],
    setCurrent: false,
  });
}

/** A configuration file booting `image` with state under `dir`. */
async function writeConfig(dir: string, image: GuestImage): Promise<string> {
  const path = `${dir}/cocoon.toml`;
  const accel = Deno.env.get("COCOON_TEST_ACCEL") === "kvm" ? "kvm" : "tcg";
  await Deno.writeTextFile(
    path,
    `[hypervisor.qemu]
kernel = ${JSON.stringify(image.kernel)}
initrd = ${JSON.stringify(image.initrd)}
image = ${JSON.stringify(image.rootfs ?? "")}
accelerator = "${accel}"
default_memory = 512
default_maxmemory = 1024
default_maxvcpus = 2
shared_fs = "virtio-9p"

[runtime]
state_dir = ${JSON.stringify(`${dir}/run`)}
store = "fs"
internetworking_model = "none"

[agent]
dial_timeout = 90
`,
  );
  return path;
}

/** `ctr run --rootfs` writes no environment (no image config): give the process a PATH. */
const PATH = ["--env", "PATH=/bin:/sbin:/usr/bin"];

async function prepare(dir: string) {
  const image = await guestImage();
  return { rootfs: await makeBusyboxRootfs(dir), env: { COCOON_CONFIG: await writeConfig(dir, image) } };
}

Deno.test({
  name:
    "ctr run on real QEMU via the shim and daemon: hi, exit 7, run -d + exec + ps + pause/resume + kill 137",
  ...opts,
  async fn() {
    await withShimWorld({ embedded: false, prepare }, async (w) => {
      const sub = await w.ctrd.subscribe();
      const t0 = performance.now();
      const hi = await w.run(PATH, "v-echo", ["echo", "hi"]);
      const echoMs = Math.round(performance.now() - t0);
      assert.equal(hi.stdout, "hi\n", hi.stderr);
      assert.equal(hi.code, 0);
      const seven = await w.run(PATH, "v-seven", ["sh", "-c", "exit 7"]);
      assert.equal(seven.code, 7, seven.stderr);

      const d = await w.run(["-d", ...PATH], "v-sleep", ["sleep", "600"]);
      assert.equal(d.code, 0, d.stderr);
      assert.equal((await pidsMentioning(w.dir, "qemu-system")).length, 1, "one VM for the running pod");
      const ex = await w.ctrd.ctr(["task", "exec", "--exec-id", "e1", "v-sleep", "/bin/echo", "in-vm"]);
      assert.equal(ex.stdout, "in-vm\n", ex.stderr);
      assert.equal(ex.code, 0);
      const ps = await w.ctrd.ctr(["task", "ps", "v-sleep"]);
      assert.equal(ps.code, 0, ps.stderr);
      assert.equal((await w.ctrd.ctr(["task", "pause", "v-sleep"])).code, 0);
      assert.match((await w.ctrd.ctr(["task", "ls"])).stdout, /v-sleep\s+\d+\s+PAUSED/);
      assert.equal((await w.ctrd.ctr(["task", "resume", "v-sleep"])).code, 0);
      const kill = await w.ctrd.ctr(["task", "kill", "-s", "SIGKILL", "v-sleep"]);
      assert.equal(kill.code, 0, kill.stderr);
      const exit = await sub.waitFor((l) => l.includes("/tasks/exit") && l.includes('"id":"v-sleep"'), {
        timeoutMs: 30_000,
      });
      assert.match(exit, /"exit_status":137/);
      assert.equal((await w.ctrd.ctr(["task", "rm", "v-sleep"])).code, 0);
      await w.ctrd.ctr(["container", "rm", "v-sleep", "v-echo", "v-seven"]);
      await sub.waitFor((l) => l.includes("/tasks/delete") && l.includes('"v-sleep"'), { timeoutMs: 30_000 });
      assert.deepEqual(topicsOf(sub.lines, "v-echo"), [
        "/tasks/create",
        "/tasks/start",
        "/tasks/exit",
        "/tasks/delete",
      ]);
      for (let i = 0; i < 50 && (await pidsMentioning(w.dir, "qemu-system")).length > 0; i++) {
        await new Promise((r) => setTimeout(r, 200));
      }
      assert.deepEqual(await pidsMentioning(w.dir, "qemu-system"), [], "no VM left");
      // deno-lint-ignore no-console
      console.log(`ctr run echo hi through Cocoon (VM boot included, TCG): ${echoMs} ms`);
    });
  },
});
