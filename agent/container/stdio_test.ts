import assert from "node:assert/strict";
import { ChunkReader, StdinWriter } from "./stdio.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

Deno.test({
  name: "ChunkReader.read() returns at most max bytes, keeps the rest, and null at end",
  permissions: "none",
  async fn() {
    const s = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(enc.encode("hello world"));
        c.close();
      },
    });
    const r = new ChunkReader(s);
    assert.equal(dec.decode((await r.read(5)) ?? undefined), "hello");
    assert.equal(dec.decode((await r.read(100)) ?? undefined), " world");
    assert.equal(await r.read(10), null);
    await assert.rejects(r.read(0), { code: "InvalidArgument" });
  },
});

Deno.test({
  name: "ChunkReader pulls from its source only when read (back pressure)",
  permissions: "none",
  async fn() {
    let pulls = 0;
    const s = new ReadableStream<Uint8Array>({
      pull(c) {
        pulls++;
        c.enqueue(enc.encode("x"));
      },
    }, { highWaterMark: 0 });
    const r = new ChunkReader(s);
    await new Promise((res) => setTimeout(res, 10));
    assert.equal(pulls, 0);
    await r.read(1);
    assert.equal(pulls, 1);
    r.cancel();
  },
});

Deno.test({
  name: "StdinWriter.close() ends a pipe, and sends ^D to a terminal",
  permissions: "none",
  async fn() {
    const got: number[][] = [];
    let closed = false;
    const pipe = new StdinWriter(new WritableStream({ close: () => void (closed = true) }), {
      terminal: false,
    });
    await pipe.close();
    assert.equal(closed, true);
    await assert.rejects(pipe.write(enc.encode("x")), { code: "FailedPrecondition" });
    const tty = new StdinWriter(new WritableStream({ write: (c) => void got.push([...c]) }), {
      terminal: true,
    });
    assert.equal(await tty.write(enc.encode("ab")), 2);
    await tty.close();
    assert.deepEqual(got, [[97, 98], [4]]);
  },
});

Deno.test({
  name: "ChunkReader: a read aborted while it waits (its host went away) leaves the bytes to the next read",
  permissions: "none",
  async fn() {
    let ctl: ReadableStreamDefaultController<Uint8Array> | undefined;
    const s = new ReadableStream<Uint8Array>({ start: (c) => void (ctl = c) }, { highWaterMark: 0 });
    const r = new ChunkReader(s);
    const ac = new AbortController();
    const stale = r.read(100, ac.signal);
    const next = r.read(100);
    ac.abort(new Error("host gone"));
    await assert.rejects(stale, /host gone/);
    ctl?.enqueue(enc.encode("done\n"));
    assert.equal(dec.decode((await next) ?? undefined), "done\n");
  },
});
