/**
 * Sandbox lifecycle against an in-memory VM, agent and store: states, guards, persistence of every
 * transition, exact exit statuses, re-attach from a "new process", rollback of a failed create,
 * cleanup on delete.
 */
import assert from "node:assert/strict";
import { resolveConfig } from "../../runtime/config/resolve.ts";
import { isRuntimeError } from "../../runtime/errors.ts";
import { minimalSpec, parseOciSpec } from "../../runtime/oci/spec.ts";
import { createLogger, nullSink } from "../../runtime/log/logger.ts";
import { openSandboxRuntime, Sandbox, type SandboxRuntime } from "../../runtime/sandbox/mod.ts";
import { fakeConnector, FakeHost, FakeHypervisor, MemoryStore, RecordingShare } from "./sandbox_fakes.ts";

interface World {
  dir: string;
  host: FakeHost;
  hv: FakeHypervisor;
  store: MemoryStore;
  share: RecordingShare;
  rootfs: string;
  runtime(): Promise<SandboxRuntime>;
}

async function withWorld(fn: (w: World) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "cocoon-sb-it-" });
  try {
    const host = new FakeHost();
    const hv = new FakeHypervisor(host);
    const store = new MemoryStore();
    const share = new RecordingShare();
    const rootfs = `${dir}/rootfs`;
    await Deno.mkdir(rootfs);
    const cfg = resolveConfig(
      {
        hypervisor: { qemu: { kernel: "/k/vmlinuz", initrd: "/k/initrd.img", image: "/k/rootfs.erofs" } },
        runtime: { state_dir: `${dir}/run`, internetworking_model: "none" },
        agent: { dial_timeout: 5 },
      },
      { file: "test", dropIns: [] },
    );
    const runtime = () =>
      openSandboxRuntime(cfg, {
        log: createLogger({ sink: nullSink }),
        plugins: { hypervisor: hv, store, storage: { "9p": share } },
        connectAgent: fakeConnector(host),
      });
    await fn({ dir, host, hv, store, share, rootfs, runtime });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const spec = (args: string[]) => parseOciSpec(minimalSpec(args), "test");

async function run(
  sb: Sandbox,
  id: string,
  args: string[],
  rootfs: string,
): Promise<{ out: string; status: number }> {
  await sb.act({ kind: "create-container", opts: { id, spec: spec(args), rootfs } });
  const out = new Response(sb.io(id).stdout).text();
  await sb.act({ kind: "start-container", containerId: id });
  const exit = await sb.wait(id);
  return { out: await out, status: exit.exitStatus };
}

Deno.test({
  name: "Sandbox.create() boots a VM with the userland disk first and the share, then readies the agent",
  async fn() {
    await withWorld(async (w) => {
      const sb = await Sandbox.create(await w.runtime(), { id: "sb1" });
      assert.equal(sb.status().kind, "ready");
      const cfg = w.hv.configs[0]!;
      assert.equal(cfg.stateDir, `${w.dir}/run/sandboxes/sb1/vm`);
      assert.deepEqual(cfg.devices.map((d) => d.kind), ["block", "share-fs"]);
      assert.ok(cfg.kernelParams.includes("cocoon.userland=/dev/vda"));
      const agent = w.host.running.get("sb1")!.agent;
      assert.deepEqual(agent.sandbox?.storages?.map((s) => [s.driver, s.source, s.mountPoint]), [[
        "9p",
        "cocoon-shared",
        "/run/cocoon/shared",
      ]]);
      const rec = await w.store.load("sandboxes/sb1");
      assert.equal((rec as { status: { kind: string } }).status.kind, "ready");
      await sb.act({ kind: "delete" });
    });
  },
});

Deno.test({
  name: "Sandbox containers exit with exact statuses 0, 7 and 137 and stdout reaches the caller",
  async fn() {
    await withWorld(async (w) => {
      const sb = await Sandbox.create(await w.runtime(), { id: "sb2" });
      const a = await run(sb, "c-echo", ["echo", "hi"], w.rootfs);
      assert.deepEqual(a, { out: "hi\n", status: 0 });
      const b = await run(sb, "c-seven", ["sh", "-c", "exit 7"], w.rootfs);
      assert.equal(b.status, 7);
      await sb.act({
        kind: "create-container",
        opts: { id: "c-sleep", spec: spec(["sleep", "1000"]), rootfs: w.rootfs },
      });
      await sb.act({ kind: "start-container", containerId: "c-sleep" });
      assert.equal((await sb.container("c-sleep")).status.kind, "running");
      await sb.act({ kind: "kill", containerId: "c-sleep", signal: "SIGKILL" });
      assert.equal((await sb.wait("c-sleep")).exitStatus, 137);
      const stopped = await sb.container("c-sleep");
      assert.equal(stopped.status.kind, "stopped");
      assert.equal(stopped.status.kind === "stopped" ? stopped.status.exitStatus : -1, 137);
      for (const id of ["c-echo", "c-seven", "c-sleep"]) {
        await sb.act({ kind: "delete-container", containerId: id });
      }
      assert.equal(w.share.shared.size, 0);
      await sb.act({ kind: "delete" });
      assert.deepEqual(await w.store.list(), []);
      assert.equal(w.host.running.size, 0);
      await assert.rejects(Deno.stat(`${w.dir}/run/sandboxes/sb2`), Deno.errors.NotFound);
    });
  },
});

Deno.test({
  name: "Sandbox guards refuse start twice, exec in a created container, delete of a running one",
  async fn() {
    await withWorld(async (w) => {
      const sb = await Sandbox.create(await w.runtime(), { id: "sb3" });
      await sb.act({
        kind: "create-container",
        opts: { id: "c1", spec: spec(["sleep", "100"]), rootfs: w.rootfs },
      });
      const process = spec(["echo", "x"]).process!;
      await assert.rejects(
        sb.act({ kind: "exec", containerId: "c1", opts: { execId: "e1", process } }),
        /Cannot exec in container "c1": it is created/,
      );
      await sb.act({ kind: "start-container", containerId: "c1" });
      await assert.rejects(
        sb.act({ kind: "start-container", containerId: "c1" }),
        /Cannot start container "c1": it is running/,
      );
      await assert.rejects(
        sb.act({ kind: "delete-container", containerId: "c1" }),
        (e) => isRuntimeError(e) && e.code === "FailedPrecondition",
      );
      await assert.rejects(
        sb.act({ kind: "delete" }),
        /Cannot delete sandbox "sb3": it is ready: 1 container\(s\) still run/,
      );
      await sb.act({ kind: "pause-container", containerId: "c1" });
      assert.equal((await sb.container("c1")).status.kind, "paused");
      await assert.rejects(sb.act({ kind: "pause-container", containerId: "c1" }), /it is paused/);
      await sb.act({ kind: "resume-container", containerId: "c1" });
      const e = await sb.act({ kind: "exec", containerId: "c1", opts: { execId: "e1", process } });
      assert.equal(e.status.kind, "running");
      assert.equal((await sb.waitExec("c1", "e1")).exitStatus, 0);
      await assert.rejects(
        sb.act({ kind: "create-container", opts: { id: "c1", spec: spec(["true"]), rootfs: w.rootfs } }),
        (err) => isRuntimeError(err) && err.code === "AlreadyExists",
      );
      await sb.act({ kind: "delete-container", containerId: "c1", opts: { force: true } });
      await sb.act({ kind: "delete" });
    });
  },
});

Deno.test({
  name: "Sandbox.fetch() re-attaches from a new runtime after release() and deletes the sandbox",
  async fn() {
    await withWorld(async (w) => {
      const first = await Sandbox.create(await w.runtime(), { id: "sb4" });
      await first.act({
        kind: "create-container",
        opts: { id: "c1", spec: spec(["sleep", "100"]), rootfs: w.rootfs },
      });
      await first.act({ kind: "start-container", containerId: "c1" });
      await first.release();
      await assert.rejects(
        first.act({ kind: "kill", containerId: "c1", signal: 9 }),
        /the handle was released/,
      );
      const second = await Sandbox.fetch(await w.runtime(), "sb4");
      assert.equal(second.status().kind, "ready");
      assert.deepEqual(await Sandbox.list(await w.runtime()), ["sb4"]);
      await second.act({ kind: "kill", containerId: "c1", signal: "TERM" });
      assert.equal((await second.wait("c1")).exitStatus, 143);
      await second.act({ kind: "delete" });
      assert.equal(w.host.running.size, 0);
      assert.deepEqual(await w.store.list(), []);
    });
  },
});

Deno.test({
  name: "Sandbox.fetch() marks the sandbox stopped when its VM is gone, and delete force cleans it",
  async fn() {
    await withWorld(async (w) => {
      const sb = await Sandbox.create(await w.runtime(), { id: "sb5" });
      await sb.act({
        kind: "create-container",
        opts: { id: "c1", spec: spec(["sleep", "100"]), rootfs: w.rootfs },
      });
      await sb.act({ kind: "start-container", containerId: "c1" });
      await sb.release();
      w.host.running.delete("sb5"); // kill -9 of the VMM
      const again = await Sandbox.fetch(await w.runtime(), "sb5");
      assert.equal(again.status().kind, "stopped");
      const c = await again.container("c1");
      assert.deepEqual(c.status.kind === "stopped" ? c.status.exitStatus : "live", null);
      await again.act({ kind: "delete", opts: { force: true } });
      assert.deepEqual(await w.store.list(), []);
      assert.equal(w.share.shared.size, 0);
      assert.equal(w.share.released, 1);
    });
  },
});

Deno.test({
  name: "Sandbox.create() rolls back everything when the VM fails to start or the id is taken",
  async fn() {
    await withWorld(async (w) => {
      const rt = await w.runtime();
      w.hv.failStart = true;
      await assert.rejects(Sandbox.create(rt, { id: "sb6" }), /qemu exited with code 1/);
      assert.deepEqual(await w.store.list(), []);
      assert.equal(w.share.released, 1);
      await assert.rejects(Deno.stat(`${w.dir}/run/sandboxes/sb6`), Deno.errors.NotFound);
      w.hv.failStart = false;
      const sb = await Sandbox.create(rt, { id: "sb6" });
      await assert.rejects(
        Sandbox.create(rt, { id: "sb6" }),
        (e) => isRuntimeError(e) && e.code === "AlreadyExists",
      );
      await assert.rejects(
        Sandbox.create(rt, { id: "../etc" }),
        (e) => isRuntimeError(e) && e.code === "InvalidArgument",
      );
      assert.equal(sb.status().kind, "ready");
      await sb.act({ kind: "delete" });
    });
  },
});

Deno.test({
  name: "createContainer() rolls back shares and records when the agent refuses, and checks the rootfs",
  async fn() {
    await withWorld(async (w) => {
      const sb = await Sandbox.create(await w.runtime(), { id: "sb7" });
      const agent = w.host.running.get("sb7")!.agent;
      agent.failCreate = true;
      await assert.rejects(
        sb.act({ kind: "create-container", opts: { id: "c1", spec: spec(["true"]), rootfs: w.rootfs } }),
        /crun create failed/,
      );
      assert.equal(w.share.shared.size, 0);
      assert.deepEqual(await w.store.list("containers/"), []);
      agent.failCreate = false;
      await assert.rejects(
        sb.act({
          kind: "create-container",
          opts: { id: "c1", spec: spec(["true"]), rootfs: `${w.dir}/missing` },
        }),
        (e) => isRuntimeError(e) && e.code === "NotFound",
      );
      const c = await sb.act({
        kind: "create-container",
        opts: { id: "c1", spec: spec(["true"]), rootfs: w.rootfs },
      });
      assert.equal(c.status.kind, "created");
      await sb.act({ kind: "delete-container", containerId: "c1" });
      await sb.act({ kind: "delete" });
    });
  },
});

Deno.test({
  name: "createContainer() rewrites root and bind sources to guest paths and drops host namespace paths",
  async fn() {
    await withWorld(async (w) => {
      const sb = await Sandbox.create(await w.runtime(), { id: "sb8" });
      const vol = `${w.dir}/vol`;
      await Deno.mkdir(vol);
      const raw = {
        ...minimalSpec(["sleep", "1"]),
        mounts: [
          { destination: "/proc", type: "proc", source: "proc" },
          { destination: "/data", type: "bind", source: vol, options: ["rbind", "ro"] },
          { destination: "/dev/null", type: "bind", source: "/dev/null", options: ["bind"] },
        ],
        linux: { namespaces: [{ type: "pid" }, { type: "network", path: "/proc/1/ns/net" }] },
        hooks: { prestart: [{ path: "/bin/true" }] },
      };
      await sb.act({
        kind: "create-container",
        opts: { id: "c1", spec: parseOciSpec(raw, "t"), rootfs: w.rootfs },
      });
      const g = w.host.running.get("sb8")!.agent.containers.get("c1")!.spec;
      assert.deepEqual(g["root"], {
        path: "/run/cocoon/shared/run/cocoon/containers/c1/rootfs",
        readonly: false,
      });
      assert.deepEqual(g["mounts"], [
        // no /dev in the spec: a guest tmpfs, so device nodes are never made on the share
        {
          destination: "/dev",
          type: "tmpfs",
          source: "tmpfs",
          options: ["nosuid", "strictatime", "mode=755", "size=65536k"],
        },
        { destination: "/proc", type: "proc", source: "proc" },
        {
          destination: "/data",
          type: "bind",
          source: "/run/cocoon/shared/run/cocoon/containers/c1/mounts/1",
          options: ["rbind", "ro"],
        },
        { destination: "/dev/null", type: "bind", source: "/dev/null", options: ["bind"] },
      ]);
      assert.deepEqual(g["linux"], { namespaces: [{ type: "pid" }, { type: "cgroup" }] });
      assert.equal(g["hooks"], undefined);
      assert.equal(w.share.shared.size, 2);
      await sb.act({ kind: "delete-container", containerId: "c1", opts: { force: true } });
      assert.equal(w.share.shared.size, 0);
      await sb.act({ kind: "delete" });
    });
  },
});

Deno.test({
  name: "Sandbox.pause() stops the VM and resume() reconnects, persisting both states",
  async fn() {
    await withWorld(async (w) => {
      const sb = await Sandbox.create(await w.runtime(), { id: "sb9" });
      await sb.act({ kind: "pause" });
      assert.equal(w.host.running.get("sb9")!.paused, true);
      assert.equal(sb.status().kind, "paused");
      await assert.rejects(
        sb.act({ kind: "create-container", opts: { id: "c", spec: spec(["true"]), rootfs: w.rootfs } }),
        /it is paused/,
      );
      await sb.release();
      const again = await Sandbox.fetch(await w.runtime(), "sb9");
      assert.equal(again.status().kind, "paused");
      await again.act({ kind: "resume" });
      assert.equal(again.status().kind, "ready");
      assert.equal(w.host.running.get("sb9")!.paused, false);
      await again.act({ kind: "delete" });
    });
  },
});

Deno.test({
  name: "Sandbox.monitor() reports exec and container exits as they happen and ends with the VM",
  async fn() {
    await withWorld(async (w) => {
      const sb = await Sandbox.create(await w.runtime(), { id: "sb10" });
      const events: string[] = [];
      const done = (async () => {
        for await (const e of sb.monitor()) {
          events.push(
            e.kind === "exit"
              ? `exit ${e.containerId}${e.execId ? `/${e.execId}` : ""} ${e.exitStatus}`
              : e.kind,
          );
        }
      })();
      await sb.act({
        kind: "create-container",
        opts: { id: "c1", spec: spec(["sleep", "100"]), rootfs: w.rootfs },
      });
      await sb.act({ kind: "start-container", containerId: "c1" });
      await sb.act({
        kind: "exec",
        containerId: "c1",
        opts: { execId: "e1", process: spec(["sh", "-c", "exit 3"]).process! },
      });
      await sb.act({ kind: "kill", containerId: "c1", signal: "KILL" });
      while (events.length < 2) await new Promise((r) => setTimeout(r, 5));
      assert.deepEqual(events.sort(), ["exit c1 137", "exit c1/e1 3"]);
      const c = await sb.container("c1");
      assert.equal(c.status.kind, "stopped"); // persisted by the monitor's waiter
      await sb.act({ kind: "delete" });
      await done;
      assert.equal(events.at(-1), "vm-exit");
    });
  },
});

Deno.test({
  name: "one event source: wait, waitExec and two monitors share one WaitProcess per process",
  async fn() {
    await withWorld(async (w) => {
      const sb = await Sandbox.create(await w.runtime(), { id: "sb12" });
      const agent = w.host.running.get("sb12")!.agent;
      const seen: string[][] = [[], []];
      const stop = new AbortController();
      const monitors = seen.map(async (out) => {
        for await (const e of sb.monitor({ signal: stop.signal })) {
          if (e.kind === "exit") {
            out.push(`${e.containerId}${e.execId ? `/${e.execId}` : ""} ${e.exitStatus}`);
          }
        }
      });
      await sb.act({
        kind: "create-container",
        opts: { id: "c1", spec: spec(["sleep", "100"]), rootfs: w.rootfs },
      });
      await sb.act({ kind: "start-container", containerId: "c1" });
      await sb.act({
        kind: "exec",
        containerId: "c1",
        opts: { execId: "e1", process: spec(["sh", "-c", "exit 3"]).process! },
      });
      const waits = [sb.wait("c1"), sb.wait("c1"), sb.waitExec("c1", "e1"), sb.waitExec("c1", "e1")];
      const aborted = new AbortController();
      const gaveUp = sb.wait("c1", { signal: aborted.signal });
      aborted.abort();
      await assert.rejects(gaveUp);
      await sb.act({ kind: "kill", containerId: "c1", signal: "KILL" });
      assert.deepEqual((await Promise.all(waits)).map((x) => x.exitStatus), [137, 137, 3, 3]);
      while (seen.some((s) => s.length < 2)) await new Promise((r) => setTimeout(r, 5));
      assert.deepEqual(seen.map((s) => s.sort()), [["c1 137", "c1/e1 3"], ["c1 137", "c1/e1 3"]]);
      assert.deepEqual([...agent.waits.entries()].sort(), [["c1", 1], ["c1/e1", 1]]);
      // later waits read the record: no more WaitProcess, no second exit event
      assert.equal((await sb.wait("c1")).exitStatus, 137);
      assert.equal(agent.waits.get("c1"), 1);
      stop.abort();
      await Promise.all(monitors);
      assert.deepEqual(seen.map((s) => s.length), [2, 2]);
      await sb.act({ kind: "delete" });
    });
  },
});

Deno.test({
  name:
    "one action queue: transitions run one at a time in arrival order; kill and stats overtake a slow start",
  async fn() {
    await withWorld(async (w) => {
      const sb = await Sandbox.create(await w.runtime(), { id: "sb13" });
      const agent = w.host.running.get("sb13")!.agent;
      await sb.act({
        kind: "create-container",
        opts: { id: "c1", spec: spec(["sleep", "100"]), rootfs: w.rootfs },
      });
      await sb.act({
        kind: "create-container",
        opts: { id: "c2", spec: spec(["sleep", "100"]), rootfs: w.rootfs },
      });
      await sb.act({ kind: "start-container", containerId: "c2" });
      let release = () => {};
      agent.holdStart = new Promise((r) => release = r);
      const mark = agent.calls.length;
      const start = sb.act({ kind: "start-container", containerId: "c1" });
      const create = sb.act({
        kind: "create-container",
        opts: { id: "c3", spec: spec(["true"]), rootfs: w.rootfs },
      });
      const pause = sb.act({ kind: "pause-container", containerId: "c2" });
      while (!agent.calls.slice(mark).includes("startContainer c1")) {
        await new Promise((r) => setTimeout(r, 5));
      }
      // Not queued: they answer while the start is held; the create and pause behind it wait.
      await sb.act({ kind: "kill", containerId: "c2", signal: "CONT" });
      await sb.act({ kind: "stats", containerId: "c2" });
      await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(agent.calls.slice(mark), ["startContainer c1", "signalProcess c2 18"]);
      release();
      assert.equal((await start).status.kind, "running");
      assert.equal((await create).id, "c3");
      assert.equal((await pause).status.kind, "paused");
      const after = agent.calls.slice(mark).filter((c) =>
        /^(startContainer|createContainer|pauseContainer)/.test(c)
      );
      assert.deepEqual(after, ["startContainer c1", "createContainer c3", "pauseContainer c2"]);
      await sb.act({ kind: "delete", opts: { force: true } });
    });
  },
});

Deno.test({
  name: "Sandbox.delete({ force }) cleans a sandbox whose create was killed half-way (record still creating)",
  async fn() {
    await withWorld(async (w) => {
      const sb = await Sandbox.create(await w.runtime(), { id: "sb11" });
      await sb.release();
      // As if the creating process died after the VM booted, before the record said "ready".
      const rec = await w.store.load("sandboxes/sb11");
      await w.store.save("sandboxes/sb11", { ...(rec as object), status: { kind: "creating", since: "t" } });
      const again = await Sandbox.fetch(await w.runtime(), "sb11");
      assert.equal(again.status().kind, "creating");
      await assert.rejects(again.act({ kind: "delete" }), /Cannot delete sandbox "sb11": it is creating/);
      await assert.rejects(
        Sandbox.create(await w.runtime(), { id: "sb11" }),
        (e) => isRuntimeError(e) && e.code === "AlreadyExists",
      );
      await again.act({ kind: "delete", opts: { force: true } });
      assert.equal(w.host.running.size, 0);
      assert.equal(w.share.released, 1);
      assert.deepEqual(await w.store.list(), []);
      await assert.rejects(Deno.stat(`${w.dir}/run/sandboxes/sb11`), Deno.errors.NotFound);
    });
  },
});
