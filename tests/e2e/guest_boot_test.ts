/**
 * The guest image boots in real QEMU (TCG here) to the agent, in both layouts: erofs userland on a
 * read-only virtio disk, and everything in the initrd. Needs root, apt and qemu-system-x86_64; the
 * image is built through project code on first use and reused by content hash afterwards.
 */
import assert from "node:assert/strict";
import { buildGuestImage, DEFAULT_GUEST_ROOT, type GuestManifest } from "../../runtime/guest/mod.ts";
import { bootGuest, type BootResult, ensureGuestImage, TEST_AGENT_JS } from "../utils/guest.ts";

const canRun = await hostCanBoot();
const opts = { ignore: !canRun, sanitizeResources: false, sanitizeOps: false };

async function hostCanBoot(): Promise<boolean> {
  for (const bin of ["qemu-system-x86_64", "apt-get", "mkfs.erofs", "depmod"]) {
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

function assertBooted(r: BootResult): void {
  const tail = r.console.slice(-3000);
  assert.equal(r.agent["end"], "ok", `agent did not finish:\n${tail}`);
  assert.match(r.console, /cocoon-init: agent exited with code 0/, tail);
  assert.match(r.console, /reboot: Power down/, tail);
  assert.equal(r.exitCode, 0, tail);
}

function assertGuestEnvironment(r: BootResult, manifest: GuestManifest): void {
  const modules = (r.agent["modules"] ?? "").split(",").filter((m) => m !== "");
  const virtio = (r.agent["virtiodrivers"] ?? "").split(",");
  if (manifest.kernel.flavour === "tuned") {
    // Everything is built in: nothing to load, and the drivers and filesystems are there at once.
    assert.deepEqual(modules, [], `the tuned kernel loaded modules: ${r.agent["modules"]}`);
    assert.deepEqual(manifest.modules.load, []);
    const fs = (r.agent["filesystems"] ?? "").split(",");
    for (const f of ["9p", "virtiofs", "fuse", "ext4"]) assert.ok(fs.includes(f), `filesystem ${f} missing`);
  } else {
    for (const m of ["overlay", "erofs", "vsock", "vmw_vsock_virtio_transport", "virtio_blk", "virtio_net"]) {
      assert.ok(modules.includes(m), `module ${m} not loaded: ${r.agent["modules"]}`);
    }
    for (const m of manifest.modules.load) {
      assert.ok(modules.includes(m), `module ${m} not loaded: ${r.agent["modules"]}`);
    }
  }
  // Drivers registered, whether built in (virtio_console, virtio-pci in Debian's kernels) or loaded.
  for (
    const d of ["virtio_console", "virtio_blk", "virtio_net", "virtio_rng", "vmw_vsock_virtio_transport"]
  ) {
    assert.ok(virtio.includes(d), `virtio driver ${d} missing: ${r.agent["virtiodrivers"]}`);
  }
  assert.ok((r.agent["pcidrivers"] ?? "").split(",").includes("virtio-pci"), r.agent["pcidrivers"] ?? "");
  const fs = (r.agent["filesystems"] ?? "").split(",");
  for (const f of ["overlay", "erofs", "cgroup2", "devpts"]) {
    assert.ok(fs.includes(f), `filesystem ${f} missing`);
  }
  const mounts = r.agent["mounts"] ?? "";
  for (const m of ["/sys/fs/cgroup:cgroup2", "/dev/pts:devpts", "/dev/shm:tmpfs", "/run:tmpfs"]) {
    assert.ok(mounts.includes(m), `mount ${m} missing: ${mounts}`);
  }
  assert.ok((r.agent["path"] ?? "").split(":").includes("/cocoon/bin"), r.agent["path"] ?? "");
  assert.match(r.agent["crun"] ?? "", /^crun version \d/);
  assert.match(r.agent["runc"] ?? "", /^runc version \d/);
  assert.equal(r.agent["zombies"], "0", "PID 1 must reap orphans");
  // busybox init is PID 1; the agent runs under /bin/cocoon-agent-run.
  assert.match(r.agent["pid"] ?? "", /^\d+\/\d+$/);
  assert.notEqual(r.agent["pid"]?.split("/")[1], "1");
}

Deno.test({
  name: "guest image (erofs) boots in QEMU to the agent with its modules, mounts, crun and runc",
  ...opts,
  async fn() {
    const image = await ensureGuestImage({ agent: "test", mode: "erofs" });
    assert.ok(image.rootfs !== null);
    const r = await bootGuest(image, {
      append: "agent.log=debug agent.channel=serial cocoon.hostname=guest-e2e agent.debug_thing",
    });
    assertBooted(r);
    assertGuestEnvironment(r, image.manifest);
    const mounts = r.agent["mounts"] ?? "";
    assert.ok(mounts.includes("/cocoon:erofs"), mounts);
    assert.ok(mounts.includes("/:tmpfs"), `root should be a tmpfs (pivot_root works): ${mounts}`);
    assert.equal(r.agent["hostname"], "guest-e2e");
    const env = r.agent["env"] ?? "";
    for (
      const kv of ["COCOON_AGENT_LOG=debug", "COCOON_AGENT_CHANNEL=serial", "COCOON_AGENT_DEBUG_THING=1"]
    ) {
      assert.ok(env.includes(kv), `${kv} not in ${env}`);
    }
    assert.ok(env.includes("COCOON_ROOTFS=tmpfs"), env);
    for (const s of ["init", "modules", "userland", "agent-exec", "agent-run"]) {
      assert.ok(r.stages[s] !== undefined, `no stage ${s}`);
    }
  },
});

Deno.test({
  name: "guest image on Debian's prebuilt kernel (--kernel debian) boots to the agent, loading its modules",
  ...opts,
  async fn() {
    const image = await ensureGuestImage({ agent: "test", mode: "erofs", kernel: "debian" });
    assert.notEqual(image.manifest.kernel.flavour, "tuned");
    assert.ok(image.manifest.modules.load.length > 0);
    const r = await bootGuest(image);
    assertBooted(r);
    assertGuestEnvironment(r, image.manifest);
  },
});

Deno.test({
  name: "guest image (erofs) boots with the userland on virtio-pmem, mounted with DAX",
  ...opts,
  async fn() {
    const image = await ensureGuestImage({ agent: "test", mode: "erofs" });
    const r = await bootGuest(image, { userland: "virtio-pmem" });
    assertBooted(r);
    assert.match(r.agent["cocoonmount"] ?? "", /^\/dev\/pmem0 \/cocoon erofs ro,.*dax=always/);
  },
});

Deno.test({
  name: "guest image (initrd) boots in QEMU to the agent without a userland disk",
  ...opts,
  async fn() {
    const image = await ensureGuestImage({ agent: "test", mode: "initrd" });
    assert.equal(image.rootfs, null);
    const r = await bootGuest(image, { memoryMiB: 512 });
    assertBooted(r);
    assertGuestEnvironment(r, image.manifest);
    assert.ok((r.agent["mounts"] ?? "").startsWith("/:rootfs"), r.agent["mounts"] ?? "");
    assert.ok((r.agent["env"] ?? "").includes("COCOON_ROOTFS=initramfs"));
  },
});

Deno.test({
  name: "guest /init powers off with a clear message when the userland disk is missing",
  ...opts,
  async fn() {
    const image = await ensureGuestImage({ agent: "test", mode: "erofs" });
    const r = await bootGuest(image, { userland: "none", append: "cocoon.userland=/dev/vdz" });
    assert.match(r.console, /cocoon-init: fatal: cannot mount the userland image \/dev\/vdz/);
    assert.equal(r.agent["start"], undefined);
    assert.equal(r.exitCode, 0);
  },
});

Deno.test({
  name: "guest image rebuild with the same inputs is a no-op that returns the cached image",
  ...opts,
  async fn() {
    const first = await ensureGuestImage({ agent: "test", mode: "erofs" });
    const notes: string[] = [];
    const t0 = performance.now();
    const again = await buildGuestImage({
      outDir: DEFAULT_GUEST_ROOT,
      agentBundle: `${DEFAULT_GUEST_ROOT}/.test-agent/agent.js`,
      mode: "erofs",
      setCurrent: false,
      progress: { step: (s) => notes.push(s), note: () => {}, done: (m) => notes.push(m) },
    });
    assert.equal(again.built, false);
    assert.equal(again.hash, first.hash);
    assert.equal(again.dir, first.dir);
    assert.ok(notes.some((n) => /up to date \(nothing to do\)/.test(n)), notes.join("\n"));
    assert.ok(!notes.some((n) => /Downloading|Writing/.test(n)), notes.join("\n"));
    assert.ok(performance.now() - t0 < 30_000);
    assert.ok(TEST_AGENT_JS.length > 0);
  },
});

Deno.test({
  name: "guest boot stops early on cocoon.stop=init (bare kernel + trivial init)",
  ...opts,
  async fn() {
    const image = await ensureGuestImage({ agent: "test", mode: "erofs" });
    const r = await bootGuest(image, { append: "cocoon.stop=init" });
    assert.match(r.console, /cocoon-init: stop requested at stage init/);
    assert.equal(r.stages["modules"], undefined);
    assert.ok((r.stages["init"] ?? 0) > 0);
    assert.equal(r.exitCode, 0);
  },
});

Deno.test({
  name: "guest image with a compiled agent runs /cocoon/bin/cocoon-agent with its libraries",
  ...opts,
  async fn() {
    // Any dynamically linked program stands in for a `deno compile`d agent; the deno runtime itself,
    // started without arguments on the console, shows its REPL banner.
    const deno = new URL("../../node_modules/deno/deno", import.meta.url).pathname;
    const image = await buildGuestImage({ outDir: DEFAULT_GUEST_ROOT, agentBinary: deno, setCurrent: false });
    assert.equal(image.manifest.agent.kind, "compiled");
    assert.equal(image.manifest.agent.runtime, null);
    const libs = image.manifest.libraries.map((l) => l.name);
    for (const l of ["libc.so.6", "ld-linux-x86-64.so.2", "libgcc_s.so.1", "libseccomp.so.2"]) {
      assert.ok(libs.includes(l), `${l} not in ${libs.join(" ")}`);
    }
    const r = await bootGuest(image, { until: "exit using ctrl+d" });
    assert.match(r.console, /cocoon-init: agent starting at/);
    assert.match(r.console, /Deno \d+\.\d+\.\d+/, r.console.slice(-2000));
  },
});
