import assert from "node:assert/strict";
import { encodeFrame, FRAME, jsonBytes, parseRequest, parseResponse, WireReader } from "./wire.ts";

Deno.test({
  name: "parseRequest() accepts each op and rejects malformed ones",
  permissions: "none",
  fn() {
    assert.deepEqual(parseRequest({ op: "start" }), { op: "start" });
    assert.deepEqual(parseRequest({ op: "kill", signal: 15 }), { op: "kill", signal: 15, all: false });
    assert.deepEqual(parseRequest({ op: "kill", signal: 9, all: true, execId: "e" }), {
      op: "kill",
      signal: 9,
      all: true,
      execId: "e",
    });
    assert.deepEqual(parseRequest({ op: "delete", force: true }), { op: "delete", force: true });
    assert.deepEqual(parseRequest({ op: "exec", execId: "e1", process: { args: ["ls"] } }).op, "exec");
    assert.throws(() => parseRequest({ op: "kill", signal: 0 }), /"signal" must be 1-64/);
    assert.throws(() => parseRequest({ op: "kill", signal: "TERM" }), /"signal" must be 1-64/);
    assert.throws(() => parseRequest({ op: "exec", execId: "", process: {} }), /"execId"/);
    assert.throws(() => parseRequest({ op: "update", resources: [] }), /"resources" must be an object/);
    assert.throws(() => parseRequest({ op: "rm -rf" }), /unknown op/);
    assert.throws(() => parseRequest([]), /expected an object/);
  },
});

Deno.test({
  name: "parseResponse() keeps known error codes and maps unknown ones to Unknown",
  permissions: "none",
  fn() {
    assert.deepEqual(parseResponse({ ok: true, result: 1 }), { ok: true, result: 1 });
    assert.deepEqual(parseResponse({ ok: false, code: "NotFound", message: "m" }), {
      ok: false,
      code: "NotFound",
      message: "m",
    });
    assert.deepEqual(parseResponse({ ok: false, code: "Nope" }), {
      ok: false,
      code: "Unknown",
      message: "the holder failed",
    });
    assert.throws(() => parseResponse({}), /expected an object with "ok"/);
  },
});

Deno.test({
  name: "WireReader reads a JSON line then frames split across chunks",
  permissions: "none",
  async fn() {
    const frame = encodeFrame(FRAME.stdout, new TextEncoder().encode("hello"));
    assert.deepEqual([...frame.subarray(0, 5)], [3, 0, 0, 0, 5]);
    const bytes = new Uint8Array([
      ...new TextEncoder().encode('{"ok":true}\n'),
      ...frame,
      ...encodeFrame(FRAME.exit),
    ]);
    const chunks = [bytes.subarray(0, 7), bytes.subarray(7, 15), bytes.subarray(15)];
    const r = new WireReader(ReadableStream.from(chunks));
    assert.deepEqual(await r.readJsonLine(), { ok: true });
    const f = await r.readFrame();
    assert.equal(f?.type, FRAME.stdout);
    assert.equal(new TextDecoder().decode(f?.payload), "hello");
    assert.deepEqual(await r.readFrame(), { type: FRAME.exit, payload: new Uint8Array() });
    assert.equal(await r.readFrame(), null);
  },
});

Deno.test({
  name: "WireReader rejects an oversized frame and a line that is not JSON",
  permissions: "none",
  async fn() {
    const big = new Uint8Array([3, 0x7f, 0, 0, 0]);
    await assert.rejects(new WireReader(ReadableStream.from([big])).readFrame(), /over the limit/);
    const line = new TextEncoder().encode("not json\n");
    await assert.rejects(new WireReader(ReadableStream.from([line])).readJsonLine(), /not JSON/);
    assert.throws(() => encodeFrame(FRAME.stdout, new Uint8Array(2 << 20)), /limit/);
  },
});

Deno.test({
  name: "jsonBytes() writes bigints (agent counters) as numbers",
  permissions: "none",
  fn() {
    assert.equal(new TextDecoder().decode(jsonBytes({ a: 5n, b: [1n] })), '{"a":5,"b":[1]}');
  },
});
