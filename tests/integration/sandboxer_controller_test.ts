/**
 * The sandboxer's Controller over gRPC on a real unix socket, driven by a grpc-js client, with the
 * sandbox core on in-memory fakes (VM, agent, store): lifecycle, CRI states, Wait, idempotent
 * Stop/Shutdown, gRPC error codes, Metrics, and adoption of running sandboxes after a restart.
 */
import assert from "node:assert/strict";
import { anyUnpack, StructSchema, timestampDate } from "@bufbuild/protobuf/wkt";
import { resolveConfig } from "../../runtime/config/resolve.ts";
import { RuntimeError } from "../../runtime/errors.ts";
import { minimalSpec } from "../../runtime/oci/spec.ts";
import { Task } from "../../runtime/protocol/gen/containerd/task/v2/shim_pb.ts";
import { RpcStatusError, TtrpcClient, typedClient } from "../../runtime/protocol/ttrpc/mod.ts";
import { createLogger, nullSink } from "../../runtime/log/logger.ts";
import { type GrpcUnaryClient, grpcUnaryClient } from "../../runtime/protocol/grpc.ts";
import { Controller } from "../../runtime/protocol/gen/containerd/services/sandbox/v1/sandbox_pb.ts";
import { openSandboxRuntime } from "../../runtime/sandbox/mod.ts";
import { SANDBOX_NOTREADY, SANDBOX_READY } from "../../runtime/sandboxer/controller.ts";
import { type Sandboxer, startSandboxer } from "../../runtime/sandboxer/server.ts";
import { sandboxIdOf } from "../../runtime/shim/address.ts";
import { fakeConnector, FakeHost, FakeHypervisor, MemoryStore, RecordingShare } from "./sandbox_fakes.ts";

interface World {
  dir: string;
  host: FakeHost;
  store: MemoryStore;
  /** Starts a sandboxer (a "new process": fresh runtime and hypervisor on the same fake host). */
  serve(): Promise<Sandboxer>;
  dial(): { client: GrpcUnaryClient<typeof Controller>; close(): void };
}

async function withWorld(fn: (w: World) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "cocoon-sbx-" });
  const servers: Sandboxer[] = [];
  const clients: { close(): void }[] = [];
  try {
    const host = new FakeHost();
    const store = new MemoryStore();
    const cfg = resolveConfig(
      {
        hypervisor: { qemu: { kernel: "/k/vmlinuz", initrd: "/k/initrd.img", image: "/k/rootfs.erofs" } },
        runtime: { state_dir: `${dir}/run`, internetworking_model: "none" },
        agent: { dial_timeout: 5 },
      },
      { file: "test", dropIns: [] },
    );
    const log = createLogger({ sink: nullSink });
    const serve = async () => {
      const runtime = await openSandboxRuntime(cfg, {
        log,
        plugins: { hypervisor: new FakeHypervisor(host), store, storage: { "9p": new RecordingShare() } },
        connectAgent: fakeConnector(host),
      });
      const s = await startSandboxer({
        listen: `${dir}/sandboxer.sock`,
        taskDir: `${dir}/daemon`,
        runtime,
        log,
      });
      servers.push(s);
      return s;
    };
    const dial = () => {
      const c = grpcUnaryClient(Controller, `unix://${dir}/sandboxer.sock`);
      clients.push(c);
      return c;
    };
    await fn({ dir, host, store, serve, dial });
  } finally {
    for (const c of clients) c.close();
    for (const s of servers) await s.close({ deleteSandboxes: true });
    await Deno.remove(dir, { recursive: true });
  }
}

const CRI_ID = "5f0c6a1e2b3d4c5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6";

function hasCode(code: string, text?: RegExp): (e: unknown) => boolean {
  return (e) => e instanceof RuntimeError && e.code === code && (text === undefined || text.test(e.message));
}

Deno.test({
  name: "sandboxer Controller runs a sandbox through Create, Start, Status, Metrics, Stop, Wait, Shutdown",
  async fn() {
    await withWorld(async (w) => {
      const s = await w.serve();
      const { client } = w.dial();
      const sandboxer = "cocoon";
      const plat = await client.platform({ sandboxId: CRI_ID, sandboxer });
      assert.equal(plat.platform?.os, "linux");
      assert.equal(plat.platform?.architecture, Deno.build.arch === "x86_64" ? "amd64" : "arm64");

      const created = await client.create({
        sandboxId: CRI_ID,
        netnsPath: "",
        annotations: { "io.kubernetes.cri.sandbox-name": "web" },
        sandboxer,
      });
      assert.equal(created.sandboxId, CRI_ID);
      const before = await client.status({ sandboxId: CRI_ID, sandboxer });
      assert.equal(before.state, SANDBOX_NOTREADY);
      assert.equal(before.address, "");
      assert.equal(before.info["cocoon.state"], "created");
      assert.equal(w.host.running.size, 0, "Create must not boot the VM");

      const started = await client.start({ sandboxId: CRI_ID, sandboxer });
      const vm = w.host.running.get(sandboxIdOf(CRI_ID));
      assert.ok(vm !== undefined, "Start boots the VM under the core's sandbox id");
      assert.equal(started.pid, vm.pid);
      assert.equal(started.version, 2);
      assert.equal(started.address, s.taskAddress);
      assert.equal(started.address, `ttrpc+unix://${w.dir}/daemon/task.sock`);
      assert.ok((await Deno.stat(`${w.dir}/daemon/task.sock`)).isSocket, "the Task API socket listens");
      const again = await client.start({ sandboxId: CRI_ID, sandboxer });
      assert.equal(again.pid, vm.pid, "a second Start answers the same sandbox");
      assert.equal(w.host.running.size, 1);

      const st = await client.status({ sandboxId: CRI_ID, verbose: true, sandboxer });
      assert.equal(st.state, SANDBOX_READY);
      assert.equal(st.pid, vm.pid);
      assert.equal(st.address, s.taskAddress);
      assert.equal(st.version, 2);
      assert.equal(st.info["cocoon.state"], "ready");
      assert.equal(st.info["cocoon.sandbox_id"], sandboxIdOf(CRI_ID));
      assert.match(st.info["cocoon.record"] ?? "", /"status":\{"kind":"ready"/);
      assert.equal(st.exitedAt, undefined);

      const m = await client.metrics({ sandboxId: CRI_ID, sandboxer });
      assert.equal(m.metrics?.id, CRI_ID);
      assert.ok(m.metrics?.data !== undefined);
      const data = anyUnpack(m.metrics.data, StructSchema);
      assert.equal(data?.fields["containers"]?.kind.value, 0);
      assert.equal(data?.fields["state"]?.kind.value, "ready");

      await client.update({ sandboxId: CRI_ID, sandboxer, fields: ["labels"] });
      assert.equal(
        (await client.status({ sandboxId: CRI_ID, sandboxer })).info["cocoon.updated_fields"],
        "labels",
      );

      let waited = false;
      const wait = client.wait({ sandboxId: CRI_ID, sandboxer }).finally(() => (waited = true));
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(waited, false, "Wait blocks while the VM runs");
      const t0 = Date.now();
      await client.stop({ sandboxId: CRI_ID, timeoutSecs: 5, sandboxer });
      const exit = await wait;
      assert.equal(exit.exitStatus, 137);
      assert.ok(exit.exitedAt !== undefined);
      assert.ok(timestampDate(exit.exitedAt).getTime() >= t0 - 1000);
      assert.equal(w.host.running.size, 0, "Stop stops the VM");

      const stopped = await client.status({ sandboxId: CRI_ID, sandboxer });
      assert.equal(stopped.state, SANDBOX_NOTREADY);
      assert.equal(stopped.pid, 0);
      assert.ok(stopped.exitedAt !== undefined);
      await client.stop({ sandboxId: CRI_ID, sandboxer });

      await client.shutdown({ sandboxId: CRI_ID, sandboxer });
      await client.shutdown({ sandboxId: CRI_ID, sandboxer });
      await assert.rejects(client.status({ sandboxId: CRI_ID, sandboxer }), hasCode("NotFound"));
      assert.deepEqual(await w.store.list(), [], "Shutdown leaves no record");
      assert.deepEqual([...Deno.readDirSync(`${w.dir}/run/sandboxes`)], [], "nor a sandbox directory");
    });
  },
});

Deno.test({
  name: "sandboxer Controller maps errors to gRPC codes and makes Stop and Shutdown idempotent",
  async fn() {
    await withWorld(async (w) => {
      await w.serve();
      const { client } = w.dial();
      await assert.rejects(client.start({ sandboxId: "nope" }), hasCode("NotFound", /"nope": not found/));
      await assert.rejects(client.status({ sandboxId: "nope" }), hasCode("NotFound"));
      await assert.rejects(client.wait({ sandboxId: "nope" }), hasCode("NotFound"));
      await assert.rejects(client.create({ sandboxId: "" }), hasCode("InvalidArgument"));
      await client.stop({ sandboxId: "nope" });
      await client.shutdown({ sandboxId: "nope" });
      await client.create({ sandboxId: "sb1" });
      await assert.rejects(client.create({ sandboxId: "sb1" }), hasCode("AlreadyExists"));
      await assert.rejects(client.metrics({ sandboxId: "sb1" }), hasCode("FailedPrecondition"));
      await client.start({ sandboxId: "sb1" });
      await assert.rejects(
        client.wait({ sandboxId: "sb1" }, { timeoutMs: 200 }),
        hasCode("DeadlineExceeded"),
      );
      await client.shutdown({ sandboxId: "sb1" });
      assert.equal(w.host.running.size, 0);
    });
  },
});

Deno.test({
  name: "sandboxer adopts sandboxes left running by a previous sandboxer process",
  async fn() {
    await withWorld(async (w) => {
      const first = await w.serve();
      const c1 = w.dial();
      await c1.client.create({ sandboxId: "sb2" });
      const started = await c1.client.start({ sandboxId: "sb2" });
      c1.close();
      await first.close();
      assert.equal(w.host.running.size, 1, "closing without deleteSandboxes leaves the VM running");

      await w.serve();
      const { client } = w.dial();
      const st = await client.status({ sandboxId: "sb2" });
      assert.equal(st.state, SANDBOX_READY);
      assert.equal(st.pid, started.pid);
      const wait = client.wait({ sandboxId: "sb2" });
      await client.stop({ sandboxId: "sb2" });
      assert.equal((await wait).exitStatus, 137);
      await client.shutdown({ sandboxId: "sb2" });
      assert.equal(w.host.running.size, 0);
      assert.deepEqual(await w.store.list(), []);
    });
  },
});

Deno.test({
  name: "sandboxer Task API at Start's address runs containers in the started sandbox and keeps it",
  async fn() {
    await withWorld(async (w) => {
      await w.serve();
      const { client } = w.dial();
      await client.create({ sandboxId: "pod1" });
      const started = await client.start({ sandboxId: "pod1" });
      assert.ok(started.address.startsWith("ttrpc+unix://"));
      const conn = await TtrpcClient.connect(started.address.slice("ttrpc+unix://".length));
      try {
        const task = typedClient(conn, Task);
        const bundle = async (id: string, sandbox: string, args: string[]) => {
          const b = `${w.dir}/bundles/${id}`;
          await Deno.mkdir(`${b}/rootfs`, { recursive: true });
          const spec = {
            ...minimalSpec(args, { rootfs: "rootfs" }),
            annotations: { "io.kubernetes.cri.sandbox-id": sandbox },
          };
          await Deno.writeTextFile(`${b}/config.json`, JSON.stringify(spec));
          return b;
        };
        const out = `${w.dir}/c1.out`;
        const { pid } = await task.create({
          id: "c1",
          bundle: await bundle("c1", "pod1", ["echo", "hello from pod1"]),
          stdout: `file://${out}`,
        });
        assert.ok(pid > 0);
        const agent = w.host.running.get("pod1")?.agent;
        assert.ok(agent?.containers.has("c1"), "the container is created in the sandbox's VM");
        await task.start({ id: "c1" });
        const exit = await task.wait({ id: "c1" });
        assert.equal(exit.exitStatus, 0);
        assert.equal(await Deno.readTextFile(out), "hello from pod1\n");
        await task.delete({ id: "c1" });
        assert.equal(w.host.running.size, 1, "deleting the last container keeps the sandbox");
        assert.equal((await client.status({ sandboxId: "pod1" })).state, SANDBOX_READY);

        await assert.rejects(
          task.create({ id: "c2", bundle: await bundle("c2", "elsewhere", ["echo", "x"]) }),
          (e) =>
            e instanceof RpcStatusError && e.grpcCode === 9 && /"elsewhere" is not running/.test(e.message),
        );
        assert.equal(w.host.running.size, 1, "a container of an unknown sandbox boots no VM");
      } finally {
        conn.close();
      }
      await client.shutdown({ sandboxId: "pod1" });
      assert.equal(w.host.running.size, 0);
    });
  },
});
