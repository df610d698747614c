// Property/fuzz tests: random, truncated, oversized, corrupted and interleaved frames fed to the
// server, the client, the frame reader and the envelope decoders. Never a crash or a hang: always
// an answer, an error or a clean close. Default: >= 100,000 cases in total. Longer run:
//   FUZZ_RUNS=1000000 node_modules/.bin/deno test --allow-all tests/protocol/ttrpc_fuzz_test.ts
// (FUZZ_RUNS is the number of cases per property; the default splits 100,000 across them.)
import assert from "node:assert/strict";
import fc from "fast-check";
import { isRuntimeError } from "../../runtime/errors.ts";
import { createLogger, nullSink } from "../../runtime/log/logger.ts";
import type { Duplex } from "../../runtime/protocol/ttrpc/channel.ts";
import { TtrpcClient } from "../../runtime/protocol/ttrpc/client.ts";
import {
  decodeRequest,
  decodeResponse,
  encodeRequest,
  encodeResponse,
} from "../../runtime/protocol/ttrpc/envelope.ts";
import { encodeHeader, FrameReader, HEADER_SIZE } from "../../runtime/protocol/ttrpc/frame.ts";
import { streamHandler, TtrpcServer } from "../../runtime/protocol/ttrpc/server.ts";

const envRuns = Number(Deno.env.get("FUZZ_RUNS") ?? "");
const runs = (share: number): number => Number.isFinite(envRuns) && envRuns > 0 ? envRuns : share;
const MAX = 48; // a small frame limit, so oversized frames are cheap to generate
const SVC = "fuzz.Svc";
const quiet = createLogger({ sink: nullSink });

/** A duplex that reads `input` in chunks of `chunk` bytes and records what is written. */
function scripted(
  input: Uint8Array,
  chunk: number,
): Duplex & { out: Uint8Array[]; read(p: Uint8Array): Promise<number | null> } {
  let off = 0;
  const out: Uint8Array[] = [];
  return {
    out,
    get readable(): ReadableStream<Uint8Array> {
      throw new Error("unused");
    },
    get writable(): WritableStream<Uint8Array> {
      throw new Error("unused");
    },
    read(p) {
      if (off >= input.length) return Promise.resolve(null);
      const n = Math.min(chunk, p.length, input.length - off);
      p.set(input.subarray(off, off + n));
      off += n;
      return Promise.resolve(n);
    },
    write(p) {
      out.push(p.slice());
      return Promise.resolve(p.length);
    },
    close() {},
  };
}

const kv = fc.record({ key: fc.string({ maxLength: 4 }), value: fc.string({ maxLength: 4 }) });
const requestBytes = fc.record({
  service: fc.constantFrom(SVC, "other", ""),
  method: fc.constantFrom("Echo", "Sleep", "Stream", "Borrow", "Nope"),
  payload: fc.uint8Array({ maxLength: 24 }),
  timeoutNano: fc.oneof(fc.constant(0n), fc.bigInt(-5n, 10n ** 15n)),
  metadata: fc.array(kv, { maxLength: 2 }),
}).map(encodeRequest);
const responseBytes = fc.record({
  status: fc.option(
    fc.record({
      code: fc.integer({ min: -2, max: 20 }),
      message: fc.string({ maxLength: 8 }),
      details: fc.array(
        fc.record({ typeUrl: fc.string({ maxLength: 4 }), value: fc.uint8Array({ maxLength: 4 }) }),
        {
          maxLength: 1,
        },
      ),
    }),
    { nil: undefined },
  ),
  payload: fc.uint8Array({ maxLength: 24 }),
}).map(encodeResponse);
const frame = (payload: fc.Arbitrary<Uint8Array>) =>
  fc.record({
    streamId: fc.oneof(fc.integer({ min: 0, max: 9 }), fc.constant(0xffff_ffff)),
    type: fc.integer({ min: 0, max: 4 }),
    flags: fc.integer({ min: 0, max: 7 }),
    payload,
    oversized: fc.oneof({ weight: 9, arbitrary: fc.constant(0) }, {
      weight: 1,
      arbitrary: fc.integer({ min: 1, max: 80 }),
    }),
  }).map(({ streamId, type, flags, payload, oversized }) => {
    const body = oversized > 0 ? new Uint8Array(MAX + oversized) : payload;
    const out = new Uint8Array(HEADER_SIZE + body.length);
    encodeHeader({ length: body.length, streamId, type, flags }, out);
    out.set(body, HEADER_SIZE);
    return out;
  });
/** A byte stream of frames, maybe corrupted at one byte and maybe cut short. */
const byteStream = (payload: fc.Arbitrary<Uint8Array>) =>
  fc.record({
    frames: fc.array(frame(payload), { maxLength: 8 }),
    cut: fc.option(fc.nat(), { freq: 4 }),
    flip: fc.option(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { freq: 4 }),
    chunk: fc.integer({ min: 1, max: 64 }),
  }).map(({ frames, cut, flip, chunk }) => {
    let bytes = new Uint8Array(frames.reduce((n, f) => n + f.length, 0));
    let off = 0;
    for (const f of frames) {
      bytes.set(f, off);
      off += f.length;
    }
    if (flip !== null && bytes.length > 0) {
      const i = flip[0] % bytes.length;
      bytes[i] = (bytes[i] ?? 0) ^ flip[1];
    }
    if (cut !== null && bytes.length > 0) bytes = bytes.subarray(0, cut % bytes.length);
    return { bytes, chunk };
  });

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`hang: ${what} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

function fuzzServer(): TtrpcServer {
  const server = new TtrpcServer({ log: quiet, maxPayload: MAX });
  server.register(SVC, {
    Echo: (p) => Promise.resolve(p),
    Sleep: (_p, ctx) =>
      new Promise((_, reject) => ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason))),
    Stream: streamHandler(async (s) => {
      for await (const m of s) await s.send(m);
    }),
    Borrow: streamHandler(async (s) => {
      for await (const m of s) await s.send(m.slice());
    }, { borrow: true }),
  });
  return server;
}

Deno.test({
  name:
    "TtrpcServer survives random, truncated, oversized and corrupted frames and only sends valid Responses",
  permissions: "none",
  async fn() {
    await fc.assert(
      fc.asyncProperty(
        byteStream(fc.oneof(requestBytes, fc.uint8Array({ maxLength: 24 }))),
        async ({ bytes, chunk }) => {
          const server = fuzzServer();
          const duplex = scripted(bytes, chunk);
          await within(server.serveConnection(duplex), 2000, "serveConnection");
          await within(server.close(), 2000, "close");
          const written = new Uint8Array(duplex.out.reduce((n, c) => n + c.length, 0));
          let off = 0;
          for (const c of duplex.out) {
            written.set(c, off);
            off += c.length;
          }
          const reader = new FrameReader({ read: scripted(written, 1 << 20).read });
          for (let ev = await reader.next(); ev !== null; ev = await reader.next()) {
            assert.equal(ev.kind, "frame");
            if (ev.kind !== "frame") break;
            assert.ok(ev.header.type === 2 || ev.header.type === 3, `server sent type ${ev.header.type}`);
            if (ev.header.type === 2) {
              assert.equal(ev.header.flags, 0);
              decodeResponse(ev.payload);
            }
          }
        },
      ),
      { numRuns: runs(40_000) },
    );
  },
});

Deno.test({
  name: "TtrpcClient settles every call with a result or a RuntimeError whatever the server sends",
  permissions: "none",
  async fn() {
    await fc.assert(
      fc.asyncProperty(
        byteStream(fc.oneof(responseBytes, fc.uint8Array({ maxLength: 24 }))),
        async ({ bytes, chunk }) => {
          const client = new TtrpcClient(scripted(bytes, chunk), { log: quiet, maxPayload: MAX });
          const calls = [1, 2, 3].map((i) => client.call(SVC, "Echo", new Uint8Array([i])));
          const stream = client.stream(SVC, "Stream", { borrow: bytes.length % 2 === 0 });
          const streamDone = (async () => {
            for await (const _ of stream) { /* drain */ }
          })();
          const results = await within(
            Promise.allSettled([...calls, streamDone]),
            2000,
            "calls",
          );
          for (const r of results) {
            if (r.status === "rejected") {
              assert.ok(isRuntimeError(r.reason), `not a RuntimeError: ${r.reason}`);
            }
          }
          await within(client.close(), 2000, "close");
        },
      ),
      { numRuns: runs(40_000) },
    );
  },
});

Deno.test({
  name: "decodeRequest() and decodeResponse() either decode or throw ProtocolError on random bytes",
  permissions: "none",
  fn() {
    fc.assert(
      fc.property(
        fc.oneof(fc.uint8Array({ maxLength: 64 }), requestBytes, responseBytes),
        fc.nat(),
        (bytes, cut) => {
          for (const input of [bytes, bytes.subarray(0, cut % (bytes.length + 1))]) {
            for (const decode of [decodeRequest, decodeResponse]) {
              try {
                decode(input);
              } catch (e) {
                assert.ok(isRuntimeError(e) && e.code === "InvalidArgument", String(e));
              }
            }
          }
        },
      ),
      { numRuns: runs(20_000) },
    );
  },
});

Deno.test({
  name: "encodeRequest() and decodeRequest() round-trip any request",
  permissions: "none",
  fn() {
    fc.assert(
      fc.property(
        fc.record({
          service: fc.string(),
          method: fc.string(),
          payload: fc.uint8Array({ maxLength: 64 }),
          timeoutNano: fc.bigInt(-(2n ** 63n), 2n ** 63n - 1n),
          metadata: fc.array(kv, { maxLength: 3 }),
        }),
        (req) =>
          assert.deepEqual(decodeRequest(encodeRequest(req)), {
            ...req,
            metadata: req.metadata.map((m) => ({ ...m })),
          }),
      ),
      { numRuns: runs(5_000) },
    );
  },
});
