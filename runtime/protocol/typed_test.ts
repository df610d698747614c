import assert from "node:assert/strict";
import { RuntimeError } from "../errors.ts";
import { ConnectResponseSchema, Task } from "./gen/containerd/task/v2/shim_pb.ts";
import { Status } from "./gen/containerd/types/task/task_pb.ts";
import { unaryClient, unaryHandlers } from "./typed.ts";
import { memoryDuplexPair } from "./ttrpc/channel.ts";
import { TtrpcClient } from "./ttrpc/client.ts";
import { TtrpcServer } from "./ttrpc/server.ts";
import { RpcStatusError } from "./ttrpc/status.ts";
import { fromBinary } from "@bufbuild/protobuf";

async function withTask(
  impl: Parameters<typeof unaryHandlers<typeof Task>>[1],
  fn: (c: TtrpcClient) => Promise<void>,
): Promise<void> {
  const [a, b] = memoryDuplexPair();
  const server = new TtrpcServer().register(...unaryHandlers(Task, impl));
  const served = server.serveConnection(a);
  const client = new TtrpcClient(b);
  try {
    await fn(client);
  } finally {
    await client.close();
    await server.close();
    await served;
  }
}

Deno.test({
  name: "unaryHandlers() and unaryClient() carry typed Task calls over ttRPC",
  permissions: "none",
  async fn() {
    await withTask({
      connect: (req) => Promise.resolve({ shimPid: 3371, taskPid: req.id === "c1" ? 3398 : 0 }),
      state: (req) => Promise.resolve({ id: req.id, status: Status.STOPPED, exitStatus: 3 }),
      kill: () => Promise.resolve({}),
    }, async (client) => {
      const task = unaryClient(client, Task);
      const conn = await task.connect({ id: "c1" });
      assert.equal(conn.shimPid, 3371);
      assert.equal(conn.taskPid, 3398);
      const st = await task.state({ id: "c1", execId: "" });
      assert.equal(st.status, Status.STOPPED);
      assert.equal(st.exitStatus, 3);
      await task.kill({ id: "c1", signal: 9 });
      // The raw bytes on the wire are the upstream encoding.
      const raw = await client.call(
        "containerd.task.v2.Task",
        "Connect",
        new Uint8Array([0x0a, 0x02, 0x63, 0x31]),
      );
      assert.deepEqual(Array.from(raw), [0x08, 0xab, 0x1a, 0x10, 0xc6, 0x1a]);
      assert.equal(fromBinary(ConnectResponseSchema, raw).taskPid, 3398);
    });
  },
});

Deno.test({
  name: "unaryHandlers() answers UNIMPLEMENTED for missing methods and passes handler error codes through",
  permissions: "none",
  async fn() {
    await withTask({
      delete: (req) => Promise.reject(new RuntimeError("NotFound", `container "${req.id}" not found`)),
    }, async (client) => {
      const task = unaryClient(client, Task);
      await assert.rejects(
        task.pause({ id: "c1" }),
        (e) => e instanceof RpcStatusError && e.grpcCode === 12 && e.message === "Pause is not implemented",
      );
      await assert.rejects(
        task.delete({ id: "c2" }),
        (e) => e instanceof RpcStatusError && e.code === "NotFound" && /"c2"/.test(e.message),
      );
      // A request that does not decode is refused as INVALID_ARGUMENT.
      await assert.rejects(
        client.call("containerd.task.v2.Task", "Delete", new Uint8Array([0x0a, 0x05, 0x61])),
        (e) => e instanceof RpcStatusError && e.code === "InvalidArgument",
      );
    });
  },
});
