// Typed layer: generated protoc-gen-es descriptors (cocoon.agent.v1.Health, containerd Streaming) over the core.
import assert from "node:assert/strict";
import { isRuntimeError } from "../../runtime/errors.ts";
import { createLogger, memorySink } from "../../runtime/log/logger.ts";
import { memoryDuplexPair } from "../../runtime/protocol/ttrpc/channel.ts";
import { TtrpcClient } from "../../runtime/protocol/ttrpc/client.ts";
import { TtrpcServer } from "../../runtime/protocol/ttrpc/server.ts";
import { registerTyped, typedClient } from "../../runtime/protocol/ttrpc/typed.ts";
import { Health, ServingStatus } from "../../runtime/protocol/gen/cocoon/agent/v1/health_pb.ts";
import { Streaming } from "../../runtime/protocol/gen/containerd/services/streaming/v1/streaming_pb.ts";

function pair(): { client: TtrpcClient; server: TtrpcServer } {
  const log = createLogger({ sink: memorySink() });
  const server = new TtrpcServer({ log });
  const [a, b] = memoryDuplexPair();
  void server.serveConnection(b);
  return { client: new TtrpcClient(a, { log }), server };
}

Deno.test({
  name: "typedClient() calls a typed unary implementation and unimplemented methods fail with Unimplemented",
  permissions: "none",
  async fn() {
    const { client, server } = pair();
    try {
      registerTyped(server, Health, {
        check: (req) =>
          Promise.resolve({ status: req.service === "" ? ServingStatus.SERVING : ServingStatus.NOT_SERVING }),
      });
      const health = typedClient(client, Health);
      assert.equal((await health.check({})).status, ServingStatus.SERVING);
      assert.equal(
        (await health.check({ service: "x" }, { timeoutMs: 1000 })).status,
        ServingStatus.NOT_SERVING,
      );
      await assert.rejects(
        health.version({}),
        (e: unknown) => isRuntimeError(e) && e.code === "Unimplemented",
      );
    } finally {
      await client.close();
      await server.close();
    }
  },
});

Deno.test({
  name: "typedClient() runs a typed bidi stream (containerd Streaming/Stream)",
  permissions: "none",
  async fn() {
    const { client, server } = pair();
    try {
      registerTyped(server, Streaming, {
        stream: async (s) => {
          for await (const m of s) await s.send({ typeUrl: m.typeUrl.toUpperCase(), value: m.value });
        },
      });
      const s = typedClient(client, Streaming).stream();
      await s.send({ typeUrl: "a", value: new Uint8Array([1]) });
      await s.send({ typeUrl: "b" });
      await s.closeSend();
      const got: string[] = [];
      for await (const m of s) got.push(m.typeUrl);
      assert.deepEqual(got, ["A", "B"]);
    } finally {
      await client.close();
      await server.close();
    }
  },
});
