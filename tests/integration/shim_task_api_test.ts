/**
 * The daemon's Task API semantics, called directly over ttRPC (as containerd does) on the
 * in-memory sandbox: error codes containerd acts on, Wait before Start, exit status kept until
 * Delete, exec ids, Kill of a created task, Connect for unknown ids, Checkpoint UNIMPLEMENTED.
 */
import assert from "node:assert/strict";
import { minimalSpec } from "../../runtime/oci/spec.ts";
import { Task } from "../../runtime/protocol/gen/containerd/task/v2/shim_pb.ts";
import { RpcStatusError, TtrpcClient, typedClient } from "../../runtime/protocol/ttrpc/mod.ts";
import { nullSink } from "../../runtime/log/logger.ts";
import { FakeHost, RecordingShare } from "./sandbox_fakes.ts";
import { startEmbeddedDaemon } from "./shim_harness.ts";

const code = (n: number) => (e: unknown) => e instanceof RpcStatusError && e.grpcCode === n;
const NOT_FOUND = 5, ALREADY_EXISTS = 6, FAILED_PRECONDITION = 9, UNIMPLEMENTED = 12;

Deno.test({
  name: "Task API: codes, Wait before Start, exit kept until Delete, exec ids, kill of a created task",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "cshimt-" });
    const host = new FakeHost();
    const daemon = await startEmbeddedDaemon(dir, `${dir}/d`, {
      host,
      share: new RecordingShare(),
      sink: nullSink,
    });
    const client = await TtrpcClient.connect(`${dir}/d/cocoon.sock`);
    const task = typedClient(client, Task);
    const bundle = async (id: string, args: string[]) => {
      const b = `${dir}/${id}`;
      await Deno.mkdir(`${b}/rootfs`, { recursive: true });
      await Deno.writeTextFile(`${b}/config.json`, JSON.stringify(minimalSpec(args, { rootfs: "rootfs" })));
      return b;
    };
    try {
      assert.equal((await task.connect({ id: "nobody" })).taskPid, 0);
      await assert.rejects(task.state({ id: "nobody" }), code(NOT_FOUND));
      await assert.rejects(task.checkpoint({ id: "nobody" }), code(UNIMPLEMENTED));

      const b1 = await bundle("t1", ["sleep", "600"]);
      const { pid } = await task.create({ id: "t1", bundle: b1 });
      assert.ok(pid > 0);
      assert.equal((await task.connect({ id: "t1" })).taskPid, pid);
      await assert.rejects(task.create({ id: "t1", bundle: b1 }), code(ALREADY_EXISTS));
      assert.equal((await task.state({ id: "t1" })).status, 1); // CREATED
      const waited = task.wait({ id: "t1" }); // before Start
      await task.start({ id: "t1" });
      assert.equal((await task.state({ id: "t1" })).status, 2); // RUNNING
      await assert.rejects(task.delete({ id: "t1" }), code(FAILED_PRECONDITION));

      const spec = {
        typeUrl: "types.containerd.io/opencontainers/runtime-spec/1/Process",
        value: new TextEncoder().encode(JSON.stringify({ args: ["sh", "-c", "exit 3"], cwd: "/" })),
      };
      await task.exec({ id: "t1", execId: "e1", spec });
      await assert.rejects(task.exec({ id: "t1", execId: "e1", spec }), code(ALREADY_EXISTS));
      const e1 = await task.state({ id: "t1", execId: "e1" });
      assert.equal(e1.id, "e1");
      assert.equal(e1.execId, "e1");
      assert.equal(e1.status, 1);
      const execWait = task.wait({ id: "t1", execId: "e1" });
      await task.start({ id: "t1", execId: "e1" });
      assert.equal((await execWait).exitStatus, 3);
      await assert.rejects(task.kill({ id: "t1", execId: "e1", signal: 9 }), code(NOT_FOUND));
      assert.equal((await task.delete({ id: "t1", execId: "e1" })).exitStatus, 3);
      await assert.rejects(task.state({ id: "t1", execId: "e1" }), code(NOT_FOUND));

      await task.kill({ id: "t1", signal: 15 });
      assert.equal((await waited).exitStatus, 143);
      const st = await task.state({ id: "t1" });
      assert.equal(st.status, 3); // STOPPED
      assert.equal(st.exitStatus, 143);
      assert.equal((await task.wait({ id: "t1" })).exitStatus, 143, "Wait after the exit answers at once");
      await assert.rejects(task.kill({ id: "t1", signal: 9 }), code(NOT_FOUND));
      assert.equal((await task.delete({ id: "t1" })).exitStatus, 143);
      await assert.rejects(task.state({ id: "t1" }), code(NOT_FOUND));
      await assert.rejects(task.delete({ id: "t1" }), code(NOT_FOUND));

      // A created task that is killed before Start still reports its exit.
      const b2 = await bundle("t2", ["sleep", "600"]);
      await task.create({ id: "t2", bundle: b2 });
      await task.kill({ id: "t2", signal: 9 });
      assert.equal((await task.wait({ id: "t2" })).exitStatus, 137);
      await task.delete({ id: "t2" });
      assert.equal(host.running.size, 0);
      await task.shutdown({ id: "t2" });
    } finally {
      await client.close();
      await daemon.close({ deletePods: true });
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
