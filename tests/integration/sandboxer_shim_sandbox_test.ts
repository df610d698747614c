/**
 * The shim-side Sandbox service (`containerd.runtime.sandbox.v1.Sandbox`) that the daemon serves on
 * its Task API socket, as containerd 1.7's CRI sandbox server (sandbox_mode "shim") drives it:
 * CreateSandbox, StartSandbox, then containers through the Task API on the same socket join the
 * VM; Status, Ping, Platform, Metrics; Stop ends a blocked Wait; Shutdown deletes the VM. The
 * daemon is embedded, on the in-memory sandbox core (fake VM, agent, store).
 */
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { anyPack, StructSchema, timestampDate } from "@bufbuild/protobuf/wkt";
import type { LogSink } from "../../runtime/log/logger.ts";
import { minimalSpec } from "../../runtime/oci/spec.ts";
import { Sandbox } from "../../runtime/protocol/gen/containerd/runtime/sandbox/v1/sandbox_pb.ts";
import { Task } from "../../runtime/protocol/gen/containerd/task/v2/shim_pb.ts";
import { RpcStatusError, TtrpcClient, typedClient } from "../../runtime/protocol/ttrpc/mod.ts";
import { SANDBOX_NOTREADY, SANDBOX_READY } from "../../runtime/sandboxer/controller.ts";
import { sandboxIdOf } from "../../runtime/shim/address.ts";
import { FakeHost, MemoryStore, RecordingShare } from "./sandbox_fakes.ts";
import { startEmbeddedDaemon } from "./shim_harness.ts";

const CRI_ID = "8a1f0c6a1e2b3d4c5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5";

async function withDaemon(
  fn: (w: { dir: string; host: FakeHost; conn: TtrpcClient }) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "cocoon-shimsb-" });
  const logs: string[] = [];
  const sink: LogSink = { write: (l) => void logs.push(l) };
  const host = new FakeHost();
  const daemon = await startEmbeddedDaemon(dir, `${dir}/d`, { host, share: new RecordingShare(), sink });
  let conn: TtrpcClient | undefined;
  try {
    conn = await TtrpcClient.connect(daemon.paths.socket);
    await fn({ dir, host, conn });
  } finally {
    conn?.close();
    await daemon.close({ deletePods: true });
    await Deno.remove(dir, { recursive: true });
  }
}

async function bundle(dir: string, id: string, sandbox: string, args: string[]): Promise<string> {
  const b = `${dir}/bundles/${id}`;
  await Deno.mkdir(`${b}/rootfs`, { recursive: true });
  const spec = {
    ...minimalSpec(args, { rootfs: "rootfs" }),
    annotations: { "io.kubernetes.cri.sandbox-id": sandbox },
  };
  await Deno.writeTextFile(`${b}/config.json`, JSON.stringify(spec));
  return b;
}

function grpcCode(code: number): (e: unknown) => boolean {
  return (e) => e instanceof RpcStatusError && e.grpcCode === code;
}

Deno.test({
  name:
    "daemon Sandbox service runs a CRI pod: containers join StartSandbox's VM, Stop ends Wait, Shutdown deletes",
  async fn() {
    await withDaemon(async ({ dir, host, conn }) => {
      const sb = typedClient(conn, Sandbox);
      const task = typedClient(conn, Task);
      await sb.createSandbox({ sandboxId: CRI_ID, bundlePath: `${dir}/sb-bundle`, netnsPath: "" });
      await assert.rejects(sb.createSandbox({ sandboxId: CRI_ID }), grpcCode(6));
      const before = await sb.sandboxStatus({ sandboxId: CRI_ID });
      assert.equal(before.state, SANDBOX_NOTREADY);
      assert.equal(before.info["cocoon.state"], "created");
      assert.equal(host.running.size, 0, "CreateSandbox boots no VM");

      const started = await sb.startSandbox({ sandboxId: CRI_ID });
      const vm = host.running.get(sandboxIdOf(CRI_ID));
      assert.ok(vm !== undefined, "StartSandbox boots the pod's VM");
      assert.equal(started.pid, vm.pid);
      assert.ok(started.createdAt !== undefined);
      assert.equal(
        (await sb.startSandbox({ sandboxId: CRI_ID })).pid,
        vm.pid,
        "a second Start is the same VM",
      );
      const plat = await sb.platform({ sandboxId: CRI_ID });
      assert.equal(plat.platform?.os, "linux");
      await sb.pingSandbox({ sandboxId: CRI_ID });
      const st = await sb.sandboxStatus({ sandboxId: CRI_ID, verbose: true });
      assert.equal(st.state, SANDBOX_READY);
      assert.equal(st.pid, vm.pid);
      assert.equal(st.info["cocoon.sandbox_id"], sandboxIdOf(CRI_ID));
      assert.match(st.info["cocoon.record"] ?? "", /"kind":"ready"/);
      const m = await sb.sandboxMetrics({ sandboxId: CRI_ID });
      assert.equal(m.metrics?.id, CRI_ID);

      const out = `${dir}/c1.out`;
      await task.create({
        id: "c1",
        bundle: await bundle(dir, "c1", CRI_ID, ["echo", "hi"]),
        stdout: `file://${out}`,
      });
      assert.ok(vm.agent.containers.has("c1"), "the container is created in the pod's VM");
      assert.equal(host.running.size, 1);
      await task.start({ id: "c1" });
      assert.equal((await task.wait({ id: "c1" })).exitStatus, 0);
      assert.equal(await Deno.readTextFile(out), "hi\n");
      await task.delete({ id: "c1" });
      assert.equal(host.running.size, 1, "the last container leaving keeps the pod's VM");
      assert.equal((await sb.sandboxStatus({ sandboxId: CRI_ID })).state, SANDBOX_READY);

      let waited = false;
      const wait = sb.waitSandbox({ sandboxId: CRI_ID }).finally(() => (waited = true));
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(waited, false, "WaitSandbox blocks while the VM runs");
      const t0 = Date.now();
      await sb.stopSandbox({ sandboxId: CRI_ID, timeoutSecs: 5 });
      const exit = await wait;
      assert.equal(exit.exitStatus, 137, "the fake VM reports a kill");
      assert.ok(exit.exitedAt !== undefined && timestampDate(exit.exitedAt).getTime() >= t0 - 1000);
      assert.equal(host.running.size, 0, "StopSandbox stops the VM");
      const stopped = await sb.sandboxStatus({ sandboxId: CRI_ID });
      assert.equal(stopped.state, SANDBOX_NOTREADY);
      assert.equal(stopped.pid, 0);
      assert.ok(stopped.exitedAt !== undefined);
      await sb.stopSandbox({ sandboxId: CRI_ID });
      assert.equal(
        (await sb.waitSandbox({ sandboxId: CRI_ID })).exitStatus,
        137,
        "Wait after the exit answers at once",
      );

      await sb.shutdownSandbox({ sandboxId: CRI_ID });
      await sb.shutdownSandbox({ sandboxId: CRI_ID });
      await assert.rejects(sb.sandboxStatus({ sandboxId: CRI_ID }), grpcCode(5));
      assert.deepEqual([...Deno.readDirSync(`${dir}/run/sandboxes`)], [], "no sandbox directory is left");
    });
  },
});

Deno.test({
  name:
    "daemon Sandbox service answers NotFound for unknown sandboxes, ignores foreign options, Shutdown without Stop deletes the VM",
  async fn() {
    await withDaemon(async ({ host, conn }) => {
      const sb = typedClient(conn, Sandbox);
      await assert.rejects(sb.startSandbox({ sandboxId: "nope" }), grpcCode(5));
      await assert.rejects(sb.waitSandbox({ sandboxId: "nope" }), grpcCode(5));
      await assert.rejects(sb.pingSandbox({ sandboxId: "nope" }), grpcCode(5));
      await assert.rejects(sb.createSandbox({ sandboxId: "" }), grpcCode(3));
      await sb.stopSandbox({ sandboxId: "nope" });
      await sb.shutdownSandbox({ sandboxId: "nope" });
      // Options that are no PodSandboxConfig are ignored.
      await sb.createSandbox({ sandboxId: "pod2", options: anyPack(StructSchema, create(StructSchema, {})) });
      await sb.startSandbox({ sandboxId: "pod2" });
      await assert.rejects(
        sb.waitSandbox({ sandboxId: "pod2" }, { timeoutMs: 200 }),
        /no response within 200 ms/,
      );
      assert.equal(host.running.size, 1);
      await sb.shutdownSandbox({ sandboxId: "pod2" });
      assert.equal(host.running.size, 0, "Shutdown without Stop deletes the VM");
    });
  },
});

Deno.test({
  name: "daemon Sandbox service keys sandboxes by containerd namespace: the pod's containers join its VM",
  async fn() {
    await withDaemon(async ({ dir, host, conn }) => {
      const sb = typedClient(conn, Sandbox);
      const task = typedClient(conn, Task);
      const ns = (n: string) => ({ metadata: { "containerd-namespace-ttrpc": n } });
      await sb.createSandbox({ sandboxId: "pod", netnsPath: "" }, ns("k8s.io"));
      await sb.createSandbox({ sandboxId: "pod", netnsPath: "" }, ns("other"));
      await assert.rejects(sb.sandboxStatus({ sandboxId: "pod" }, ns("third")), grpcCode(5));
      await sb.startSandbox({ sandboxId: "pod" }, ns("k8s.io"));
      await sb.startSandbox({ sandboxId: "pod" }, ns("other"));
      assert.equal(host.running.size, 2, "one VM per namespace");
      const out = `${dir}/ns.out`;
      await task.create(
        { id: "c1", bundle: await bundle(dir, "c1", "pod", ["echo", "ns"]), stdout: `file://${out}` },
        ns("k8s.io"),
      );
      assert.equal(host.running.size, 2, "the container joined its namespace's VM");
      const inK8s = [...host.running.values()].filter((v) => v.agent.containers.has("c1"));
      assert.equal(inK8s.length, 1);
      const k8sStatus = await sb.sandboxStatus({ sandboxId: "pod" }, ns("k8s.io"));
      assert.equal(inK8s[0]?.pid, k8sStatus.pid, "the VM of the k8s.io sandbox");
      await task.delete({ id: "c1" }, ns("k8s.io"));
      await sb.shutdownSandbox({ sandboxId: "pod" }, ns("other"));
      assert.equal((await sb.sandboxStatus({ sandboxId: "pod" }, ns("k8s.io"))).state, SANDBOX_READY);
      await sb.shutdownSandbox({ sandboxId: "pod" }, ns("k8s.io"));
      assert.equal(host.running.size, 0);
    });
  },
});

Deno.test({
  name:
    "a restarted daemon adopts the running sandboxes of the one before: Status, Wait, Stop and Shutdown work",
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "cocoon-shimsb-restart-" });
    const host = new FakeHost();
    const store = new MemoryStore();
    const share = new RecordingShare();
    const sink: LogSink = { write: () => {} };
    const first = await startEmbeddedDaemon(dir, `${dir}/d1`, { host, share, sink, store });
    let conn = await TtrpcClient.connect(first.paths.socket);
    const second: { d?: Awaited<ReturnType<typeof startEmbeddedDaemon>> } = {};
    try {
      await typedClient(conn, Sandbox).createSandbox({ sandboxId: CRI_ID, netnsPath: "" });
      const started = await typedClient(conn, Sandbox).startSandbox({ sandboxId: CRI_ID });
      conn.close();
      await first.close({ deletePods: false }); // as if it had died: the VM stays
      assert.equal(host.running.size, 1);

      second.d = await startEmbeddedDaemon(dir, `${dir}/d2`, { host, share, sink, store });
      conn = await TtrpcClient.connect(second.d.paths.socket);
      const sb = typedClient(conn, Sandbox);
      await assert.rejects(sb.sandboxStatus({ sandboxId: "f".repeat(64) }), grpcCode(5));
      const st = await sb.sandboxStatus({ sandboxId: CRI_ID });
      assert.equal(st.state, SANDBOX_READY, "the new daemon knows the pod");
      assert.equal(st.pid, started.pid);
      await assert.rejects(sb.createSandbox({ sandboxId: CRI_ID }), grpcCode(6));
      const wait = sb.waitSandbox({ sandboxId: CRI_ID });
      await sb.stopSandbox({ sandboxId: CRI_ID, timeoutSecs: 5 });
      assert.equal((await wait).exitStatus, 137);
      assert.equal(host.running.size, 0, "Stop reaches the adopted VM");
      await sb.shutdownSandbox({ sandboxId: CRI_ID });
      await assert.rejects(sb.sandboxStatus({ sandboxId: CRI_ID }), grpcCode(5));
      assert.deepEqual([...Deno.readDirSync(`${dir}/run/sandboxes`)], [], "no sandbox directory is left");
    } finally {
      conn.close();
      await second.d?.close({ deletePods: true });
      await Deno.remove(dir, { recursive: true });
    }
  },
});
