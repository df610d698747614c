// Golden vectors: the worked bytes of the containerd shim reference (section 1.7), byte for byte.
import assert from "node:assert/strict";
import {
  decodeRequest,
  decodeResponse,
  encodeRequest,
  encodeResponse,
} from "../../runtime/protocol/ttrpc/envelope.ts";
import { decodeHeader, encodeFrame, MessageType } from "../../runtime/protocol/ttrpc/frame.ts";

function hex(s: string): Uint8Array {
  const parts: number[] = [];
  for (const tok of s.trim().split(/\s+/)) {
    if (tok.startsWith('"')) { for (const ch of tok.slice(1, -1)) parts.push(ch.charCodeAt(0)); }
    else parts.push(parseInt(tok, 16));
  }
  return new Uint8Array(parts);
}
const text = (s: string) => new TextEncoder().encode(s);
function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

const connectRequest = concat(
  hex("00 00 00 28 00 00 00 03 01 00 0a 17"),
  text("containerd.task.v2.Task"),
  hex("12 07"),
  text("Connect"),
  hex("1a 04 0a 02"),
  text("c1"),
);
const connectResponse = hex("00 00 00 08 00 00 00 03 02 00 12 06 08 ab 1a 10 c6 1a");
const errorResponse = concat(
  hex("00 00 00 26 00 00 00 05 02 00 0a 24 08 05 12 20"),
  text("container not created: not found"),
);
const emptyOk = hex("00 00 00 00 00 00 00 07 02 00");

Deno.test({
  name: "encodeRequest() reproduces the Connect request frame byte for byte",
  permissions: "none",
  fn() {
    const payload = encodeRequest({
      service: "containerd.task.v2.Task",
      method: "Connect",
      payload: hex("0a 02 63 31"),
      timeoutNano: 0n,
      metadata: [],
    });
    assert.deepEqual(encodeFrame(3, MessageType.Request, 0, payload), connectRequest);
    const h = decodeHeader(connectRequest);
    assert.deepEqual(h, { length: 40, streamId: 3, type: 1, flags: 0 });
    const req = decodeRequest(connectRequest.subarray(10));
    assert.equal(req.service, "containerd.task.v2.Task");
    assert.equal(req.method, "Connect");
    assert.deepEqual(req.payload, hex("0a 02 63 31"));
    assert.equal(req.timeoutNano, 0n);
  },
});

Deno.test({
  name: "encodeResponse() reproduces the Connect response frame byte for byte",
  permissions: "none",
  fn() {
    // ConnectResponse{shim_pid=3371 (field 1), task_pid=3398 (field 2)}
    const inner = hex("08 ab 1a 10 c6 1a");
    const frame = encodeFrame(
      3,
      MessageType.Response,
      0,
      encodeResponse({ status: undefined, payload: inner }),
    );
    assert.deepEqual(frame, connectResponse);
    const resp = decodeResponse(connectResponse.subarray(10));
    assert.equal(resp.status, undefined);
    assert.deepEqual(resp.payload, inner);
  },
});

Deno.test({
  name: "encodeResponse() reproduces the NOT_FOUND error response byte for byte",
  permissions: "none",
  fn() {
    const status = { code: 5, message: "container not created: not found", details: [] };
    const frame = encodeFrame(
      5,
      MessageType.Response,
      0,
      encodeResponse({ status, payload: new Uint8Array(0) }),
    );
    assert.deepEqual(frame, errorResponse);
    assert.deepEqual(decodeResponse(errorResponse.subarray(10)).status, status);
  },
});

Deno.test({
  name: "encodeResponse() gives zero bytes for an empty OK response, and decodes it as OK",
  permissions: "none",
  fn() {
    const payload = encodeResponse({
      status: { code: 0, message: "", details: [] },
      payload: new Uint8Array(0),
    });
    assert.equal(payload.length, 0);
    assert.deepEqual(encodeFrame(7, MessageType.Response, 0, payload), emptyOk);
    const resp = decodeResponse(emptyOk.subarray(10));
    assert.equal(resp.status, undefined);
    assert.equal(resp.payload.length, 0);
  },
});
