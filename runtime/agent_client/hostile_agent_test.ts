/**
 * A hostile agent: guest root owns the agent's end of the channel and may answer anything. A fake
 * agent on a unix socket answers the health check, then replies to the next call with an oversized
 * frame, a truncated one, a malformed payload, or nothing at all; meanwhile a sane agent keeps being
 * served by the same process. Each bad reply fails that call (deadline, protocol error or closed
 * channel) and nothing hangs; a reply header that claims more than 4 MiB closes that agent's
 * connection at once and fails every call on it, long before any deadline. (That a frame's claimed length never sizes a buffer is checked by the
 * frame reader's own tests: runtime/protocol/ttrpc and tests/protocol/ttrpc_fuzz_test.ts.)
 */
import assert from "node:assert/strict";
import { create, toBinary } from "@bufbuild/protobuf";
import { createLogger, nullSink } from "../log/logger.ts";
import {
  Health,
  HealthCheckResponseSchema,
  ServingStatus,
} from "../protocol/gen/cocoon/agent/v1/health_pb.ts";
import { encodeResponse } from "../protocol/ttrpc/envelope.ts";
import { decodeHeader, encodeFrame, HEADER_SIZE, MessageType } from "../protocol/ttrpc/frame.ts";
import { TtrpcServer } from "../protocol/ttrpc/server.ts";
import { AgentClient } from "./client.ts";
import { isRuntimeError } from "../errors.ts";

const log = createLogger({ sink: nullSink });
type Mode = "oversized" | "truncated" | "malformed" | "silent";

const servingPayload = () =>
  toBinary(HealthCheckResponseSchema, create(HealthCheckResponseSchema, { status: ServingStatus.SERVING }));
const serving = () => encodeResponse({ status: undefined, payload: servingPayload() });

/** Reads one request frame: its stream id. */
async function readRequest(conn: Deno.Conn): Promise<number | undefined> {
  const head = new Uint8Array(HEADER_SIZE);
  let off = 0;
  while (off < HEADER_SIZE) {
    const n = await conn.read(head.subarray(off)).catch(() => null);
    if (n === null) return undefined;
    off += n;
  }
  const h = decodeHeader(head);
  let left = h.length;
  const sink = new Uint8Array(4096);
  while (left > 0) {
    const n = await conn.read(sink.subarray(0, Math.min(left, sink.length))).catch(() => null);
    if (n === null) return undefined;
    left -= n;
  }
  return h.streamId;
}

/** A fake agent that answers health checks, then misbehaves on the first other call. */
function hostileAgent(path: string, mode: Mode): { close(): void } {
  const listener = Deno.listen({ transport: "unix", path });
  const conns: Deno.Conn[] = [];
  void (async () => {
    for await (const conn of listener) {
      conns.push(conn);
      void (async () => {
        let calls = 0;
        for (;;) {
          const stream = await readRequest(conn);
          if (stream === undefined) return;
          if (calls++ === 0) {
            await conn.write(encodeFrame(stream, MessageType.Response, 0, serving()));
            continue;
          }
          if (mode === "silent") continue;
          if (mode === "malformed") {
            await conn.write(
              encodeFrame(stream, MessageType.Response, 0, new Uint8Array([0xff, 0xff, 0xff, 0x07])),
            );
            continue;
          }
          const head = new Uint8Array(HEADER_SIZE);
          const v = new DataView(head.buffer);
          v.setUint32(0, mode === "oversized" ? 0xfff0_0000 : 4096);
          v.setUint32(4, stream);
          head[8] = MessageType.Response;
          await conn.write(head);
          await conn.write(new Uint8Array(mode === "oversized" ? 256 * 1024 : 100).fill(0x41)).catch(
            () => {},
          );
          if (mode === "truncated") {
            conn.close();
            return;
          }
        }
      })().catch(() => {});
    }
  })().catch(() => {});
  return {
    close() {
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch {
          // closed by the agent
        }
      }
    },
  };
}

Deno.test({
  name: "a hostile agent's oversized, truncated, malformed or missing reply fails that call only",
  permissions: { read: true, write: true, net: true },
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "cocoon-hostile-agent-" });
    const good = new TtrpcServer({ log });
    good.register(Health.typeName, {
      [Health.method.check.name]: () => Promise.resolve(servingPayload()),
    });
    await good.listen(`${dir}/good.sock`);
    const fakes: { close(): void }[] = [];
    try {
      const sane = await AgentClient.connect({ kind: "unix", path: `${dir}/good.sock` }, {
        timeoutMs: 5000,
        log,
      });
      for (const mode of ["oversized", "truncated", "malformed", "silent"] as const) {
        const path = `${dir}/${mode}.sock`;
        fakes.push(hostileAgent(path, mode));
        const bad = await AgentClient.connect({ kind: "unix", path }, { timeoutMs: 5000, log });
        const t0 = performance.now();
        await assert.rejects(bad.version({ timeoutMs: 1500 }), `${mode}: the call fails`);
        assert.ok(performance.now() - t0 < 5000, `${mode}: it fails within its deadline`);
        // the other pod's agent is served all along
        assert.equal(await sane.check({ timeoutMs: 2000 }), true, `after ${mode}`);
        bad.close();
      }
      sane.close();
    } finally {
      for (const f of fakes) f.close();
      await good.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/**
 * Settles with the call's error, "resolved", or "still pending" when the call has not settled after
 * `ms`. Call it as soon as the call starts, so that a late rejection is never unhandled.
 */
async function failureWithin(call: Promise<unknown>, ms: number): Promise<unknown> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<string>((r) => timer = setTimeout(() => r("still pending"), ms));
  try {
    return await Promise.race([call.then(() => "resolved", (e: unknown) => e), late]);
  } finally {
    clearTimeout(timer);
  }
}

Deno.test({
  name: "AgentClient fails every pending call at once on a reply that claims an oversized length",
  permissions: { read: true, write: true, net: true },
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "cocoon-oversized-reply-" });
    const fake = hostileAgent(`${dir}/agent.sock`, "oversized");
    try {
      const agent = await AgentClient.connect({ kind: "unix", path: `${dir}/agent.sock` }, {
        timeoutMs: 5000,
        log,
      });
      // A 30 s deadline and a long poll without one: neither may wait for a deadline.
      const outcomes = [agent.version({ timeoutMs: 30_000 }), agent.nextOomEvent()].map((c) =>
        failureWithin(c, 5000)
      );
      for (const [i, outcome] of outcomes.entries()) {
        const e = await outcome;
        assert.ok(isRuntimeError(e), `call ${i} failed within 5 s of a 30 s deadline: got ${String(e)}`);
        assert.equal(e.code, "Unavailable");
        assert.match(e.message, /claims 4293918720 bytes, more than the maximum of 4194304/);
      }
      assert.equal(agent.closed, true, "the connection is closed: the byte stream cannot be trusted");
      const later = await failureWithin(agent.check({ timeoutMs: 30_000 }), 5000);
      assert.ok(isRuntimeError(later), `a later call fails at once: got ${String(later)}`);
      assert.match(later.message, /connection closed: .*claims 4293918720 bytes/);
    } finally {
      fake.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
