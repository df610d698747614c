// Client <-> server over a real unix socket and over the in-memory duplex.
import assert from "node:assert/strict";
import { isRuntimeError } from "../../runtime/errors.ts";
import { decodeResponse, encodeRequest } from "../../runtime/protocol/ttrpc/envelope.ts";
import { encodeFrame, FrameReader } from "../../runtime/protocol/ttrpc/frame.ts";
import { RpcStatusError } from "../../runtime/protocol/ttrpc/status.ts";
import type { TtrpcClient } from "../../runtime/protocol/ttrpc/client.ts";
import { memoryDuplexPair } from "../../runtime/protocol/ttrpc/channel.ts";
import { dec, echoServer, enc, memoryPair, SVC, unixPair } from "./ttrpc_test_util.ts";

async function rejectsWith(p: Promise<unknown>, code: string, msg?: RegExp): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    assert.ok(isRuntimeError(e), `not a RuntimeError: ${e}`);
    assert.equal(e.code, code, e.message);
    if (msg) assert.match(e.message, msg);
    return e;
  }
  assert.fail(`expected a ${code} rejection`);
}

async function concurrent(client: TtrpcClient, n: number): Promise<void> {
  const results = await Promise.all(
    Array.from({ length: n }, (_, i) => client.call(SVC, "Echo", enc(`msg-${i}`))),
  );
  results.forEach((r, i) => assert.equal(dec(r), `msg-${i}`));
}

Deno.test({
  name: "TtrpcClient.call() completes 1,000 concurrent calls over a unix socket",
  permissions: { read: true, write: true, net: true },
  async fn() {
    await using p = await unixPair();
    await concurrent(p.client, 1000);
  },
});

Deno.test({
  name: "TtrpcClient.call() completes 1,000 concurrent calls over the in-memory duplex",
  permissions: "none",
  async fn() {
    const { client, server } = memoryPair();
    try {
      await concurrent(client, 1000);
    } finally {
      await client.close();
      await server.close();
    }
  },
});

Deno.test({
  name: "TtrpcClient.call() maps statuses to RuntimeError codes and keeps the message text",
  permissions: "none",
  async fn() {
    const { client, server, logs } = memoryPair();
    try {
      const e = await rejectsWith(client.call(SVC, "Fail", enc("container not created")), "NotFound");
      assert.ok(e instanceof RpcStatusError);
      assert.equal(e.grpcCode, 5);
      assert.equal(e.message, "container not created");
      await rejectsWith(client.call(SVC, "Crash", enc("")), "Internal", /internal error/);
      assert.ok(logs.some((l) => l.includes("secret detail")), "unknown errors are logged in full");
      await rejectsWith(client.call("no.Such", "X", enc("")), "Unimplemented", /^service no\.Such$/);
      await rejectsWith(client.call(SVC, "Nope", enc("")), "Unimplemented", /^method Nope$/);
      assert.equal((await client.call(SVC, "Empty", enc("x"))).length, 0);
      const md = JSON.parse(
        dec(
          await client.call(SVC, "Meta", enc(""), {
            metadata: { "Containerd-Namespace-Ttrpc": "k8s.io", b: ["1", "2"] },
          }),
        ),
      );
      assert.deepEqual(md, [["containerd-namespace-ttrpc", ["k8s.io"]], ["b", ["1", "2"]]]);
    } finally {
      await client.close();
      await server.close();
    }
  },
});

Deno.test({
  name: "TtrpcClient.call() fails with DeadlineExceeded after timeoutMs and the server handler is aborted",
  permissions: "none",
  async fn() {
    const { client, server, aborted } = memoryPair();
    try {
      const left = Number(dec(await client.call(SVC, "Deadline", enc(""), { timeoutMs: 5000 })));
      assert.ok(left > 4000 && left <= 5000, `deadline ${left}`);
      await rejectsWith(client.call(SVC, "Sleep", enc(""), { timeoutMs: 50 }), "DeadlineExceeded");
      const ctl = new AbortController();
      const p = client.call(SVC, "Sleep", enc(""), { signal: ctl.signal });
      ctl.abort();
      await rejectsWith(p, "Cancelled");
      for (let i = 0; i < 50 && aborted.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
      assert.deepEqual(aborted, ["3"], "the server aborted the timed-out handler");
      assert.equal(dec(await client.call(SVC, "Echo", enc("still up"))), "still up");
    } finally {
      await client.close();
      await server.close();
    }
  },
});

Deno.test({
  name: "TtrpcClient.close() fails pending calls with Unavailable",
  permissions: { read: true, write: true, net: true },
  async fn() {
    await using p = await unixPair();
    const calls = [p.client.call(SVC, "Sleep", enc("")), p.client.call(SVC, "Sleep", enc(""))];
    const settled = calls.map((c) => c.then(() => undefined, (e: unknown) => e));
    await p.client.call(SVC, "Echo", enc("sync")); // both Sleeps are now in the server
    assert.equal(p.client.pending, 2);
    await p.client.close();
    for (const e of await Promise.all(settled)) {
      assert.ok(isRuntimeError(e) && e.code === "Unavailable", String(e));
    }
    await rejectsWith(p.client.call(SVC, "Echo", enc("")), "Unavailable");
  },
});

Deno.test({
  name: "TtrpcServer answers RESOURCE_EXHAUSTED to an oversized request and keeps the connection",
  permissions: { read: true, write: true, net: true },
  async fn() {
    await using p = await unixPair();
    await rejectsWith(p.client.call(SVC, "Echo", new Uint8Array(5 << 20)), "ResourceExhausted");
    // Bypass the client's own check: send a raw 5 MiB frame on the socket.
    const conn = await Deno.connect({ transport: "unix", path: p.path });
    try {
      const big = new Uint8Array(10 + (5 << 20));
      new DataView(big.buffer).setUint32(0, 5 << 20);
      new DataView(big.buffer).setUint32(4, 1);
      big[8] = 1;
      let off = 0;
      while (off < big.length) off += await conn.write(big.subarray(off));
      const frames = new FrameReader(conn);
      const first = await frames.next();
      assert.ok(first?.kind === "frame");
      assert.deepEqual(first.header, { length: first.payload.length, streamId: 1, type: 2, flags: 0 });
      assert.equal(decodeResponse(first.payload).status?.code, 8, "status code RESOURCE_EXHAUSTED");
      // The same raw connection still serves calls.
      const req = encodeRequest({
        service: SVC,
        method: "Echo",
        payload: enc("raw"),
        timeoutNano: 0n,
        metadata: [],
      });
      await conn.write(encodeFrame(3, 1, 0, req));
      const second = await frames.next();
      assert.ok(second?.kind === "frame");
      assert.equal(second.header.streamId, 3);
      assert.equal(dec(decodeResponse(second.payload).payload), "raw");
    } finally {
      conn.close();
    }
    assert.equal(dec(await p.client.call(SVC, "Echo", enc("after"))), "after");
  },
});

/** Echo requests with these raw stream ids on one connection; the status code of each answer. */
async function rawIds(peerMayRestart: boolean, ids: readonly number[]): Promise<(number | string)[]> {
  const { server } = echoServer();
  const [a, b] = memoryDuplexPair();
  const served = server.serveConnection(b, { peerMayRestart });
  const frames = new FrameReader(a.readable);
  const w = a.writable.getWriter();
  const out: (number | string)[] = [];
  try {
    for (const id of ids) {
      const req = encodeRequest({
        service: SVC,
        method: "Echo",
        payload: enc(`#${id}`),
        timeoutNano: 0n,
        metadata: [],
      });
      await w.write(encodeFrame(id, 1, 0, req));
      const f = await frames.next();
      assert.ok(f?.kind === "frame");
      assert.equal(f.header.streamId, id);
      const r = decodeResponse(f.payload);
      out.push(r.status === undefined ? dec(r.payload) : r.status.code);
    }
  } finally {
    w.releaseLock();
    a.close();
    await served;
    await server.close();
  }
  return out;
}

Deno.test({
  name: "TtrpcServer refuses a lower stream id, unless the channel's peer may restart (virtio-serial)",
  permissions: "none",
  async fn() {
    // A socket peer may not go back: INVALID_ARGUMENT (3), and the connection still serves.
    assert.deepEqual(await rawIds(false, [101, 5, 103]), ["#101", 3, "#103"]);
    // The agent's port: a new host that numbers from a lower id is served (no EOF came between);
    // only an id still in flight is refused.
    assert.deepEqual(await rawIds(true, [101, 5, 7, 5]), ["#101", "#5", "#7", "#5"]);
  },
});
