/**
 * The daemon's held sandboxes (runtime/daemon/held.ts) on the fake world: what a dead daemon left
 * is taken over when the store is watched; a front door claims it; a library sandbox kept by the
 * daemon is taken over when its program is gone, lent back (and left alone while lent), held again.
 */
import assert from "node:assert/strict";
import { resolveConfig } from "../../runtime/config/resolve.ts";
import { HeldSandboxes } from "../../runtime/daemon/held.ts";
import { sandboxId } from "../../runtime/ids.ts";
import { processStartTime } from "../../runtime/sys/process_identity.ts";
import { createLogger, nullSink } from "../../runtime/log/logger.ts";
import { minimalSpec, parseOciSpec } from "../../runtime/oci/spec.ts";
import { openSandboxRuntime, Sandbox, type SandboxRuntime } from "../../runtime/sandbox/mod.ts";
import { fakeConnector, FakeHost, FakeHypervisor, MemoryStore, RecordingShare } from "./sandbox_fakes.ts";

const log = createLogger({ sink: nullSink });
/** A pid that is not running (above the kernel's pid_max default). */
const DEAD = { pid: 4_194_304 + 7, startTime: "1" };

async function world(
  fn: (rt: () => Promise<SandboxRuntime>, rootfs: string, host: FakeHost) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "cocoon-held-it-" });
  try {
    const host = new FakeHost();
    const hv = new FakeHypervisor(host);
    const store = new MemoryStore();
    const cfg = resolveConfig(
      {
        hypervisor: { qemu: { kernel: "/k/vmlinuz", initrd: "/k/initrd.img", image: "/k/rootfs.erofs" } },
        runtime: { state_dir: `${dir}/run`, internetworking_model: "none" },
        agent: { dial_timeout: 5 },
      },
      { file: "test", dropIns: [] },
    );
    const rt = await openSandboxRuntime(cfg, {
      log,
      owner: { kind: "daemon", api: `${dir}/api.sock` },
      plugins: { hypervisor: hv, store, storage: { "9p": new RecordingShare() } },
      connectAgent: fakeConnector(host),
    });
    await Deno.mkdir(`${dir}/rootfs`);
    await fn(() => Promise.resolve(rt), `${dir}/rootfs`, host);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Rewrites the stored owner, as if the process that held the sandbox had died. */
async function ownerDied(rt: SandboxRuntime, id: string, kind: "daemon" | "program"): Promise<void> {
  const r = await rt.repo.loadSandbox(sandboxId(id));
  await rt.repo.saveSandbox({
    ...r,
    owner: kind === "daemon" ? { kind, ...DEAD, api: "/gone/api.sock" } : { kind, ...DEAD },
  });
}

Deno.test("held: a dead daemon's sandbox is taken over when its store is watched, then claimed by its front door", async () => {
  await world(async (open, rootfs) => {
    const rt = await open();
    const sb = await Sandbox.create(rt, { id: "pod1" });
    await sb.act({
      kind: "create-container",
      opts: { id: "c1", spec: parseOciSpec(minimalSpec(["sleep", "9"]), "t"), rootfs },
    });
    await sb.release({ keepOwner: true });
    await ownerDied(rt, "pod1", "daemon");
    // a dead program's sandbox without a keeper is nobody's business
    const other = await Sandbox.create(rt, { id: "prog1" });
    await other.release();
    await ownerDied(rt, "prog1", "program");

    const held = new HeldSandboxes(log);
    await held.watch(rt);
    assert.deepEqual(held.ids(), ["pod1"]);
    assert.equal(held.kindOf("pod1"), "adopted");
    const stored = await rt.repo.loadSandbox(sandboxId("pod1"));
    assert.deepEqual(
      [stored.owner?.kind, stored.owner?.pid],
      ["daemon", Deno.pid],
      "the record names this daemon",
    );
    // a library caller may not borrow what a front door owns
    await assert.rejects(held.lend("pod1"), /a front door of the daemon owns it/);

    const claimed = held.claim("pod1");
    assert.ok(claimed !== undefined);
    assert.equal(held.size, 0);
    assert.equal(held.claim("pod1"), undefined, "claimed once");
    assert.equal((await claimed.container("c1")).status.kind, "created", "the same sandbox, usable");
    await claimed.act({ kind: "delete", opts: { force: true } });
    await (await Sandbox.fetch(rt, "prog1")).act({ kind: "delete", opts: { force: true } });
  });
});

Deno.test("held: a dead daemon's sandbox whose VM died too is marked stopped and not held", async () => {
  await world(async (open, _rootfs, host) => {
    const rt = await open();
    const sb = await Sandbox.create(rt, { id: "gone1" });
    await sb.release({ keepOwner: true });
    await ownerDied(rt, "gone1", "daemon");
    host.running.delete("gone1"); // its QEMU died while no daemon ran
    const held = new HeldSandboxes(log);
    await held.watch(rt);
    assert.equal(held.size, 0, "nothing held: the daemon may go idle");
    const r = await rt.repo.loadSandbox(sandboxId("gone1"));
    assert.equal(r.status.kind, "stopped");
    await held.sweep();
    assert.equal(held.size, 0, "a stopped sandbox is not taken over on later sweeps either");
    await (await Sandbox.fetch(rt, "gone1")).act({ kind: "delete", opts: { force: true } });
  });
});

Deno.test("held: Cleanup of a taken-over pod's last container deletes the pod", async () => {
  await world(async (open, rootfs) => {
    const rt = await open();
    const sb = await Sandbox.create(rt, { id: "pod2" });
    for (const c of ["c1", "c2"]) {
      await sb.act({
        kind: "create-container",
        opts: { id: c, spec: parseOciSpec(minimalSpec(["sleep", "9"]), "t"), rootfs },
      });
    }
    await sb.release({ keepOwner: true });
    await ownerDied(rt, "pod2", "daemon");
    const held = new HeldSandboxes(log);
    await held.watch(rt);
    await held.removeContainer("pod2", "c1");
    assert.equal(held.size, 1, "one container left: the pod stays");
    await held.removeContainer("pod2", "c2");
    assert.equal(held.size, 0);
    assert.deepEqual(await Sandbox.list(rt), [], "the pod went with its last container");
  });
});

Deno.test("held: a library sandbox kept by the daemon is taken over when its program died, lent, left alone while lent, held again", async () => {
  await world(async (open) => {
    const rt = await open();
    const sb = await Sandbox.create(rt, { id: "lib1", keeper: "daemon" });
    await sb.release({ keepOwner: true });
    await ownerDied(rt, "lib1", "program");
    const held = new HeldSandboxes(log);
    await held.watch(rt);
    assert.equal(held.kindOf("lib1"), "library", "the program died: the daemon has it");

    await held.lend("lib1");
    assert.equal(held.size, 0);
    assert.equal((await rt.repo.loadSandbox(sandboxId("lib1"))).owner ?? null, null, "released");
    await held.sweep();
    assert.equal(held.size, 0, "not taken back while lent");

    // the program attaches, works, and hands it back
    const mine = await Sandbox.fetch(rt, "lib1");
    // as if another live process (pid 1 here) held it
    const r = await rt.repo.loadSandbox(sandboxId("lib1"));
    await rt.repo.saveSandbox({
      ...r,
      owner: { kind: "program", pid: 1, startTime: (await processStartTime(1)) ?? "" },
    });
    await assert.rejects(held.hold(rt, "lib1"), /process 1 still holds it/);
    await rt.repo.saveSandbox(r);
    await mine.release();
    await held.hold(rt, "lib1");
    assert.equal(held.kindOf("lib1"), "library");
    await held.delete("lib1");
    assert.deepEqual(await Sandbox.list(rt), []);

    // only sandboxes made with owner "daemon" are held on request
    const plain = await Sandbox.create(rt, { id: "plain" });
    await plain.release();
    await assert.rejects(held.hold(rt, "plain"), /not created with owner "daemon"/);
    await (await Sandbox.fetch(rt, "plain")).act({ kind: "delete", opts: { force: true } });
  });
});
