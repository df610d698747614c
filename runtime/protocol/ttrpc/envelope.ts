/**
 * The ttRPC envelope messages (`ttrpc.Request`, `ttrpc.Response`, `google.rpc.Status`), encoded
 * and decoded by hand with the protobuf-es wire primitives, so the core is bytes in / bytes out and
 * does not depend on generated code. Decoding validates: unknown fields are skipped, groups are
 * refused, varints and lengths are bounds-checked, and errors become `ProtocolError`.
 *
 * @module
 */
import { BinaryReader, BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { ProtocolError } from "../../errors.ts";

/** One metadata entry (`ttrpc.KeyValue`). */
export interface KeyValue {
  readonly key: string;
  readonly value: string;
}

/** `google.protobuf.Any`, kept opaque. */
export interface AnyMessage {
  readonly typeUrl: string;
  readonly value: Uint8Array;
}

/** `google.rpc.Status`. */
export interface Status {
  readonly code: number;
  readonly message: string;
  readonly details: readonly AnyMessage[];
}

/** `ttrpc.Request`. `timeoutNano` is a bigint: int64 nanoseconds, 0n = no deadline. */
export interface Request {
  readonly service: string;
  readonly method: string;
  readonly payload: Uint8Array;
  readonly timeoutNano: bigint;
  readonly metadata: readonly KeyValue[];
}

/** `ttrpc.Response`. `status` is undefined when absent on the wire (= OK). */
export interface Response {
  readonly status: Status | undefined;
  readonly payload: Uint8Array;
}

const EMPTY: Uint8Array = new Uint8Array(0);

/** Encodes a Request. Default-valued fields are omitted, as proto3 does. */
export function encodeRequest(r: Request): Uint8Array {
  if (r.metadata.length === 0 && r.timeoutNano === 0n) {
    return encodeSimpleRequest(r.service, r.method, r.payload);
  }
  const w = new BinaryWriter();
  if (r.service !== "") w.tag(1, WireType.LengthDelimited).string(r.service);
  if (r.method !== "") w.tag(2, WireType.LengthDelimited).string(r.method);
  if (r.payload.length > 0) w.tag(3, WireType.LengthDelimited).bytes(r.payload);
  if (r.timeoutNano !== 0n) w.tag(4, WireType.Varint).int64(r.timeoutNano);
  for (const kv of r.metadata) {
    w.tag(5, WireType.LengthDelimited).fork();
    if (kv.key !== "") w.tag(1, WireType.LengthDelimited).string(kv.key);
    if (kv.value !== "") w.tag(2, WireType.LengthDelimited).string(kv.value);
    w.join();
  }
  return w.finish();
}

/** Encodes a Response. An OK status with no payload encodes to zero bytes. */
export function encodeResponse(r: Response): Uint8Array {
  const st = r.status;
  if (st === undefined || (st.code === 0 && st.message === "" && st.details.length === 0)) {
    // Hot path: success, field 2 only.
    if (r.payload.length === 0) return EMPTY;
    const out = new Uint8Array(1 + varintSize(r.payload.length) + r.payload.length);
    out[0] = 0x12;
    const off = writeVarint(out, 1, r.payload.length);
    out.set(r.payload, off);
    return out;
  }
  const w = new BinaryWriter();
  if (st !== undefined && (st.code !== 0 || st.message !== "" || st.details.length > 0)) {
    w.tag(1, WireType.LengthDelimited).fork();
    if (st.code !== 0) w.tag(1, WireType.Varint).int32(st.code);
    if (st.message !== "") w.tag(2, WireType.LengthDelimited).string(st.message);
    for (const d of st.details) {
      w.tag(3, WireType.LengthDelimited).fork();
      if (d.typeUrl !== "") w.tag(1, WireType.LengthDelimited).string(d.typeUrl);
      if (d.value.length > 0) w.tag(2, WireType.LengthDelimited).bytes(d.value);
      w.join();
    }
    w.join();
  }
  if (r.payload.length > 0) w.tag(2, WireType.LengthDelimited).bytes(r.payload);
  return w.finish();
}

/** Decodes a Request; throws `ProtocolError("InvalidArgument")` on malformed input. */
export function decodeRequest(buf: Uint8Array): Request {
  return guarded("request", () => {
    const rd = new BinaryReader(buf);
    let service = "", method = "", payload = EMPTY, timeoutNano = 0n;
    const metadata: KeyValue[] = [];
    while (rd.pos < rd.len) {
      const [no, wt] = rd.tag();
      if (no === 1 && wt === WireType.LengthDelimited) service = rd.string();
      else if (no === 2 && wt === WireType.LengthDelimited) method = rd.string();
      else if (no === 3 && wt === WireType.LengthDelimited) payload = rd.bytes();
      else if (no === 4 && wt === WireType.Varint) timeoutNano = varint64(rd);
      else if (no === 5 && wt === WireType.LengthDelimited) metadata.push(decodeKeyValue(rd.bytes()));
      else skipField(rd, wt);
    }
    return { service, method, payload, timeoutNano, metadata };
  });
}

/** Decodes a Response; zero bytes decode to OK with an empty payload. */
export function decodeResponse(buf: Uint8Array): Response {
  if (buf.length === 0) return { status: undefined, payload: EMPTY };
  if (buf[0] === 0x12) {
    // Hot path: a lone payload field covering the whole buffer.
    const [len, off] = readVarint32(buf, 1);
    if (off > 0 && off + len === buf.length) return { status: undefined, payload: buf.subarray(off) };
  }
  return guarded("response", () => {
    const rd = new BinaryReader(buf);
    let status: Status | undefined, payload = EMPTY;
    while (rd.pos < rd.len) {
      const [no, wt] = rd.tag();
      if (no === 1 && wt === WireType.LengthDelimited) status = decodeStatus(rd.bytes());
      else if (no === 2 && wt === WireType.LengthDelimited) payload = rd.bytes();
      else skipField(rd, wt);
    }
    return { status, payload };
  });
}

function decodeStatus(buf: Uint8Array): Status {
  const rd = new BinaryReader(buf);
  let code = 0, message = "";
  const details: AnyMessage[] = [];
  while (rd.pos < rd.len) {
    const [no, wt] = rd.tag();
    if (no === 1 && wt === WireType.Varint) code = rd.int32();
    else if (no === 2 && wt === WireType.LengthDelimited) message = rd.string();
    else if (no === 3 && wt === WireType.LengthDelimited) details.push(decodeAny(rd.bytes()));
    else skipField(rd, wt);
  }
  return { code, message, details };
}

function decodeAny(buf: Uint8Array): AnyMessage {
  const rd = new BinaryReader(buf);
  let typeUrl = "", value = EMPTY;
  while (rd.pos < rd.len) {
    const [no, wt] = rd.tag();
    if (no === 1 && wt === WireType.LengthDelimited) typeUrl = rd.string();
    else if (no === 2 && wt === WireType.LengthDelimited) value = rd.bytes();
    else skipField(rd, wt);
  }
  return { typeUrl, value };
}

function decodeKeyValue(buf: Uint8Array): KeyValue {
  const rd = new BinaryReader(buf);
  let key = "", value = "";
  while (rd.pos < rd.len) {
    const [no, wt] = rd.tag();
    if (no === 1 && wt === WireType.LengthDelimited) key = rd.string();
    else if (no === 2 && wt === WireType.LengthDelimited) value = rd.string();
    else skipField(rd, wt);
  }
  return { key, value };
}

/** Reads a varint (at most 10 bytes, else an error) as a signed int64. */
function varint64(rd: BinaryReader): bigint {
  return BigInt(rd.int64());
}

function skipField(rd: BinaryReader, wt: WireType): void {
  switch (wt) {
    case WireType.Varint:
      rd.int64();
      return;
    case WireType.Bit64:
    case WireType.Bit32:
    case WireType.LengthDelimited:
      rd.skip(wt);
      return;
    default:
      throw new Error(`unsupported wire type ${wt}`);
  }
}

function guarded<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof ProtocolError) throw e;
    const msg = e instanceof Error ? e.message : String(e);
    throw new ProtocolError("InvalidArgument", `Cannot decode ttrpc ${what}: ${msg}`, { cause: e });
  }
}

// Hand-rolled hot paths (plain unary calls): no writer/reader objects, one allocation.

const prefixCache = new Map<string, Uint8Array>();

/** `service` and `method` fields, encoded once per pair (bounded cache). */
function callPrefix(service: string, method: string): Uint8Array {
  const key = `${service}\u0000${method}`;
  let p = prefixCache.get(key);
  if (p === undefined) {
    const w = new BinaryWriter();
    if (service !== "") w.tag(1, WireType.LengthDelimited).string(service);
    if (method !== "") w.tag(2, WireType.LengthDelimited).string(method);
    p = w.finish();
    if (prefixCache.size >= 1024) prefixCache.clear();
    prefixCache.set(key, p);
  }
  return p;
}

function encodeSimpleRequest(service: string, method: string, payload: Uint8Array): Uint8Array {
  const prefix = callPrefix(service, method);
  const n = payload.length;
  const out = new Uint8Array(prefix.length + (n > 0 ? 1 + varintSize(n) + n : 0));
  out.set(prefix);
  if (n > 0) {
    out[prefix.length] = 0x1a;
    const off = writeVarint(out, prefix.length + 1, n);
    out.set(payload, off);
  }
  return out;
}

function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

function writeVarint(out: Uint8Array, off: number, n: number): number {
  while (n >= 0x80) {
    out[off++] = (n & 0x7f) | 0x80;
    n = Math.floor(n / 128);
  }
  out[off++] = n;
  return off;
}

/** Reads a varint of at most 5 bytes; returns [value, next offset] or [0, -1] when malformed. */
function readVarint32(buf: Uint8Array, off: number): [number, number] {
  let v = 0;
  for (let i = 0; i < 5; i++) {
    const b = buf[off + i];
    if (b === undefined) return [0, -1];
    v += (b & 0x7f) * 2 ** (7 * i);
    if ((b & 0x80) === 0) return [v, off + i + 1];
  }
  return [0, -1];
}
