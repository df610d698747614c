/**
 * The host enforces the stdio output window: an agent (guest root) that sends more output than
 * it was granted loses the stream, so the host never queues more than the window for a process;
 * an agent that keeps within its credit is read to the end.
 */
import assert from "node:assert/strict";
import { create, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { createLogger, nullSink } from "../log/logger.ts";
import { Agent } from "../protocol/gen/cocoon/agent/v1/agent_pb.ts";
import {
  Health,
  HealthCheckResponseSchema,
  ServingStatus,
} from "../protocol/gen/cocoon/agent/v1/health_pb.ts";
import { StdioServerMessageSchema } from "../protocol/gen/cocoon/agent/v1/stdio_pb.ts";
import { streamHandler, TtrpcServer } from "../protocol/ttrpc/server.ts";
import { isRuntimeError } from "../errors.ts";
import { containerId } from "../ids.ts";
import { OUTPUT_WINDOW } from "./attach.ts";
import { AgentClient } from "./client.ts";

const log = createLogger({ sink: nullSink });
const CHUNK = 128 * 1024;

/** A fake agent whose StdioStream sends `total` bytes of stdout at once, whatever it was granted, then exit 0. */
async function flooding(path: string, total: number): Promise<TtrpcServer> {
  const server = new TtrpcServer({ log });
  server.register(Health.typeName, {
    [Health.method.check.name]: () =>
      Promise.resolve(
        toBinary(
          HealthCheckResponseSchema,
          create(HealthCheckResponseSchema, { status: ServingStatus.SERVING }),
        ),
      ),
  });
  server.register(Agent.typeName, {
    [Agent.method.stdioStream.name]: streamHandler(async (stream) => {
      const reader = stream.readable.getReader();
      await reader.read(); // open
      const send = (m: MessageInitShape<typeof StdioServerMessageSchema>) =>
        stream.send(toBinary(StdioServerMessageSchema, create(StdioServerMessageSchema, m)));
      await send({ kind: { case: "opened", value: { pid: 7 } } });
      for (let sent = 0; sent < total; sent += CHUNK) {
        await send({ kind: { case: "stdout", value: new Uint8Array(Math.min(CHUNK, total - sent)) } });
      }
      await send({ kind: { case: "exit", value: { exitStatus: 0 } } });
      reader.cancel().catch(() => {});
    }),
  });
  await server.listen(path);
  return server;
}

Deno.test({
  name: "attach() cuts off an agent that sends output beyond its credit, and reads one within it to the end",
  permissions: { read: true, write: true, net: true },
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "cocoon-attach-credit-" });
    const servers: TtrpcServer[] = [];
    try {
      // within the window, unread: the whole output arrives when the consumer reads it
      servers.push(await flooding(`${dir}/fair.sock`, OUTPUT_WINDOW));
      const fair = await AgentClient.connect({ kind: "unix", path: `${dir}/fair.sock` }, {
        timeoutMs: 5000,
        log,
      });
      const p = await fair.attach({ containerId: containerId("c") });
      let got = 0;
      for await (const c of p.stdout) got += c.length;
      assert.equal(got, OUTPUT_WINDOW);
      assert.equal(await p.exit, 0);
      fair.close();

      // beyond the window without waiting for credit: the stream fails with DataLoss
      servers.push(await flooding(`${dir}/flood.sock`, 8 * OUTPUT_WINDOW));
      const flood = await AgentClient.connect({ kind: "unix", path: `${dir}/flood.sock` }, {
        timeoutMs: 5000,
        log,
      });
      const q = await flood.attach({ containerId: containerId("c") });
      await assert.rejects(
        q.exit,
        (e: unknown) => isRuntimeError(e) && e.code === "DataLoss" && /beyond the credit/.test(e.message),
      );
      flood.close();
    } finally {
      for (const s of servers) await s.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
