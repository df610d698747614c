// ttrpc 1.2 streams: bidi echo with half-close, server streaming, errors, back pressure.
import assert from "node:assert/strict";
import { isRuntimeError } from "../../runtime/errors.ts";
import { createLogger, memorySink } from "../../runtime/log/logger.ts";
import { memoryDuplexPair } from "../../runtime/protocol/ttrpc/channel.ts";
import { TtrpcClient } from "../../runtime/protocol/ttrpc/client.ts";
import { streamHandler, TtrpcServer } from "../../runtime/protocol/ttrpc/server.ts";
import { dec, enc, memoryPair, SVC, unixPair } from "./ttrpc_test_util.ts";

Deno.test({
  name: "TtrpcClient.stream() echoes messages both ways and ends after half-close over a unix socket",
  permissions: { read: true, write: true, net: true },
  async fn() {
    await using p = await unixPair();
    const s = p.client.stream(SVC, "Stream");
    const got: string[] = [];
    const reading = (async () => {
      for await (const m of s) got.push(dec(m));
    })();
    for (let i = 0; i < 100; i++) await s.send(enc(`m${i}`));
    await s.closeSend();
    await reading;
    assert.deepEqual(got, Array.from({ length: 100 }, (_, i) => `m${i}`));
    assert.equal(p.client.pending, 0);
    assert.equal(dec(await p.client.call(SVC, "Echo", enc("after"))), "after");
  },
});

Deno.test({
  name: "TtrpcClient.stream() receives a server stream with back pressure over the in-memory duplex",
  permissions: "none",
  async fn() {
    const { client, server } = memoryPair();
    try {
      const s = client.stream(SVC, "Count", { clientStreaming: false, request: enc("500") });
      // Nothing read yet: the server can only get ~hwm messages ahead; then read them all.
      await new Promise((r) => setTimeout(r, 20));
      const got: string[] = [];
      for await (const m of s.readable) got.push(dec(m));
      assert.equal(got.length, 500);
      assert.equal(got[499], "499");
    } finally {
      await client.close();
      await server.close();
    }
  },
});

Deno.test({
  name: "TtrpcClient.stream() errors with the server's status when the handler throws",
  permissions: "none",
  async fn() {
    const { client, server } = memoryPair();
    try {
      const s = client.stream(SVC, "StreamFail");
      await s.closeSend();
      const got: string[] = [];
      let err: unknown;
      try {
        for await (const m of s) got.push(dec(m));
      } catch (e) {
        err = e;
      }
      assert.deepEqual(got, ["first"]);
      assert.ok(isRuntimeError(err) && err.code === "FailedPrecondition", String(err));
      assert.equal(err.message, "stream broke");
      const missing = client.stream(SVC, "NoSuch");
      await assert.rejects(
        missing.readable.getReader().read(),
        (e: unknown) => isRuntimeError(e) && e.code === "Unimplemented",
      );
    } finally {
      await client.close();
      await server.close();
    }
  },
});

Deno.test({
  name:
    "TtrpcClient.stream() with borrow delivers every message intact while the consumer reads one at a time",
  permissions: { read: true, write: true, net: true },
  async fn() {
    await using p = await unixPair();
    const s = p.client.stream(SVC, "Count", { clientStreaming: false, request: enc("2000"), borrow: true });
    let i = 0;
    for await (const m of s) {
      assert.equal(dec(m), String(i), "a borrowed view is valid until the next read");
      i++;
    }
    assert.equal(i, 2000);
  },
});

Deno.test({
  name:
    "TtrpcServer ends a stream with RESOURCE_EXHAUSTED when a Data frame is over its limit, and keeps the connection",
  permissions: "none",
  async fn() {
    const server = new TtrpcServer({ log: createLogger({ sink: memorySink() }), maxPayload: 1024 });
    server.register(SVC, {
      Echo: (p) => Promise.resolve(p),
      Stream: streamHandler(async (s) => {
        for await (const m of s) await s.send(m);
      }),
    });
    const [a, b] = memoryDuplexPair();
    void server.serveConnection(b);
    const client = new TtrpcClient(a, { log: createLogger({ sink: memorySink() }) });
    try {
      const s = client.stream(SVC, "Stream");
      await s.send(enc("small"));
      await s.send(new Uint8Array(2048));
      const got: string[] = [];
      let err: unknown;
      try {
        for await (const m of s) got.push(dec(m));
      } catch (e) {
        err = e;
      }
      assert.deepEqual(got, ["small"]);
      assert.ok(isRuntimeError(err) && err.code === "ResourceExhausted", String(err));
      assert.equal(dec(await client.call(SVC, "Echo", enc("still up"))), "still up");
    } finally {
      await client.close();
      await server.close();
    }
  },
});
