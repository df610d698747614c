import assert from "node:assert/strict";
import { isRuntimeError } from "../../errors.ts";
import { decodeHeader, encodeFrame, encodeHeader, FrameReader, MAX_PAYLOAD } from "./frame.ts";

function source(bytes: Uint8Array, chunk: number): { read(p: Uint8Array): Promise<number | null> } {
  let off = 0;
  return {
    read(p) {
      if (off >= bytes.length) return Promise.resolve(null);
      const n = Math.min(chunk, p.length, bytes.length - off);
      p.set(bytes.subarray(off, off + n));
      off += n;
      return Promise.resolve(n);
    },
  };
}

Deno.test({
  name: "encodeHeader() writes big-endian length and stream id, decodeHeader() reads them back",
  permissions: "none",
  fn() {
    const h = { length: 0x010203, streamId: 0x0a0b0c0d, type: 3, flags: 5 };
    const b = encodeHeader(h);
    assert.deepEqual([...b], [0, 1, 2, 3, 0x0a, 0x0b, 0x0c, 0x0d, 3, 5]);
    assert.deepEqual(decodeHeader(b), h);
    assert.throws(() => encodeHeader({ ...h, streamId: -1 }));
  },
});

Deno.test({
  name: "FrameReader.next() reads frames split across any chunking and ends with null",
  permissions: "none",
  async fn() {
    const a = encodeFrame(1, 1, 0, new Uint8Array([1, 2, 3]));
    const b = encodeFrame(3, 3, 5, new Uint8Array(0));
    const all = new Uint8Array([...a, ...b]);
    for (const chunk of [1, 2, 7, 100]) {
      const r = new FrameReader(source(all, chunk));
      const f1 = await r.next();
      assert.ok(f1?.kind === "frame");
      assert.deepEqual([...f1.payload], [1, 2, 3]);
      const f2 = await r.next();
      assert.ok(f2?.kind === "frame" && f2.header.flags === 5 && f2.payload.length === 0);
      assert.equal(await r.next(), null);
    }
  },
});

Deno.test({
  name: "FrameReader.next() discards an oversized payload without allocating it and reports it",
  permissions: "none",
  async fn() {
    const claimed = MAX_PAYLOAD + 1;
    const bytes = new Uint8Array(10 + claimed + 13);
    encodeHeader({ length: claimed, streamId: 7, type: 1, flags: 0 }, bytes);
    bytes.set(encodeFrame(9, 1, 0, new Uint8Array([42])), 10 + claimed);
    const r = new FrameReader(source(bytes, 1 << 16));
    const big = await r.next();
    assert.deepEqual(big, { kind: "oversized", header: { length: claimed, streamId: 7, type: 1, flags: 0 } });
    const next = await r.next();
    assert.ok(next?.kind === "frame" && next.header.streamId === 9 && next.payload[0] === 42);
  },
});

Deno.test({
  name: "FrameReader.next() with oversized: fail rejects at the header and stays failed",
  permissions: "none",
  async fn() {
    const header = encodeHeader({ length: 0xfff0_0000, streamId: 5, type: 2, flags: 0 });
    let reads = 0;
    // The header, then a peer that never sends the 4 GiB it claimed: a read past the header would hang.
    const r = new FrameReader({
      read(p) {
        if (reads++ > 0) return new Promise(() => {});
        p.set(header);
        return Promise.resolve(header.length);
      },
    }, { oversized: "fail" });
    const expected = (e: unknown) =>
      isRuntimeError(e) && e.code === "ResourceExhausted" &&
      e.message ===
        `Cannot read frame on stream 5: its header claims 4293918720 bytes, more than the maximum of ${MAX_PAYLOAD}`;
    await assert.rejects(r.next(), expected);
    await assert.rejects(r.next(), expected, "a reader out of sync never reads again");
    assert.equal(reads, 1);
  },
});

Deno.test({
  name: "FrameReader.next() rejects with DataLoss when the stream ends inside a frame",
  permissions: "none",
  async fn() {
    const frame = encodeFrame(1, 1, 0, new Uint8Array(10));
    for (const cut of [3, 12]) {
      const r = new FrameReader(source(frame.subarray(0, cut), 4));
      await assert.rejects(r.next(), (e: unknown) => isRuntimeError(e) && e.code === "DataLoss");
    }
  },
});
