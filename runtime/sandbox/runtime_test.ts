import assert from "node:assert/strict";
import { create, toBinary } from "@bufbuild/protobuf";
import { createLogger, nullSink } from "../log/logger.ts";
import { Agent } from "../protocol/gen/cocoon/agent/v1/agent_pb.ts";
import {
  Health,
  HealthCheckResponseSchema,
  ServingStatus,
} from "../protocol/gen/cocoon/agent/v1/health_pb.ts";
import { TtrpcServer } from "../protocol/ttrpc/server.ts";
import { defaultAgentConnector } from "./runtime.ts";
import { PROBE_STREAM_STRIDE, probeStreamBase } from "../agent_client/probe.ts";

const log = createLogger({ sink: nullSink });

Deno.test({
  name: "probeStreamBase() gives each probe connection odd stream ids above the previous ones'",
  permissions: "none",
  fn() {
    assert.equal(probeStreamBase(0), 1);
    assert.equal(probeStreamBase(1), PROBE_STREAM_STRIDE + 1);
    for (const n of [0, 1, 2, 100, 0xfffe]) {
      assert.equal(probeStreamBase(n) % 2, 1);
      assert.ok(probeStreamBase(n) <= 0xffff_ffff);
      if (n > 0) assert.ok(probeStreamBase(n) > probeStreamBase(n - 1));
    }
  },
});

/**
 * A unix socket in front of one ttRPC server session, as QEMU's virtio-serial chardev is in front
 * of the agent: what every host connection writes is queued for the one session (also after that
 * connection closed), the session starts reading only when the guest opens the port, and its
 * replies go to whichever connection is open then.
 */
function serialPortFake(path: string) {
  const listener = Deno.listen({ transport: "unix", path });
  const conns: Deno.Conn[] = [];
  let current: Deno.Conn | undefined;
  const inbox = new TransformStream<Uint8Array, Uint8Array>(
    {},
    new CountQueuingStrategy({ highWaterMark: 4096 }),
  );
  const feed = inbox.writable.getWriter();
  const pumps: Promise<void>[] = [];
  const accepting = (async () => {
    for await (const conn of listener) {
      conns.push(conn);
      current = conn;
      pumps.push((async () => {
        try {
          for await (const chunk of conn.readable) await feed.write(chunk);
        } catch {
          // closed
        }
      })());
    }
  })();
  const outbox = new WritableStream<Uint8Array>({
    async write(chunk) {
      await current?.write(chunk).catch(() => {});
    },
  });
  return {
    port: { readable: inbox.readable, writable: outbox, close: () => {} },
    async close() {
      listener.close();
      await accepting.catch(() => {});
      for (const c of conns) {
        try {
          c.close();
        } catch {
          // already closed
        }
      }
      await Promise.all(pumps);
      await feed.close().catch(() => {});
    },
  };
}

Deno.test({
  name:
    "defaultAgentConnector() does not take a stale probe reply, queued while the guest port was closed, as the answer to a later call",
  permissions: { read: true, write: true, net: true },
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "cocoon-connector-" });
    const fake = serialPortFake(`${dir}/agent.sock`);
    const server = new TtrpcServer({ log });
    const created: string[] = [];
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
      [Agent.method.createSandbox.name]: () => {
        created.push("sandbox");
        return Promise.resolve(new Uint8Array(0));
      },
    });
    // The guest opens its port after the first probe connection (Health.Check on stream ids 1 and
    // 3, each with a 2 s deadline) gave up and the second one sent its check.
    let serving: Promise<void> | undefined;
    const opened = setTimeout(() => serving = server.serveConnection(fake.port), 5000);
    let agent: Awaited<ReturnType<typeof defaultAgentConnector>> | undefined;
    try {
      agent = await defaultAgentConnector({ kind: "unix", path: `${dir}/agent.sock` }, {
        timeoutMs: 20_000,
        log,
      });
      await agent.createSandbox({ sandboxId: "sb-1", storages: [] }, { timeoutMs: 5000 });
      assert.deepEqual(created, ["sandbox"], "CreateSandbox was answered without reaching the agent");
    } finally {
      clearTimeout(opened);
      agent?.close();
      await server.close();
      await fake.close();
      await serving?.catch(() => {});
      await Deno.remove(dir, { recursive: true });
    }
  },
});
