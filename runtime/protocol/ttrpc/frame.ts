/**
 * ttRPC framing: the 10-byte big-endian header, and an incremental frame reader that never trusts
 * the peer's length field (see PROTOCOL.md). Pure functions plus one small stateful reader; no
 * sockets here (`channel.ts` owns the byte stream).
 *
 * @module
 */
import { ProtocolError } from "../../errors.ts";

/** Size of the frame header in bytes. */
export const HEADER_SIZE = 10;
/** Largest payload a frame may carry: 4 MiB. */
export const MAX_PAYLOAD = 4 << 20;

/** Frame type byte. */
export const MessageType = { Request: 1, Response: 2, Data: 3 } as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

/** ttrpc 1.2 flag bits. */
export const Flags = { RemoteClosed: 0x01, RemoteOpen: 0x02, NoData: 0x04 } as const;

/** A decoded frame header. `type` is the raw byte: unknown types are the caller's to ignore. */
export interface FrameHeader {
  readonly length: number;
  readonly streamId: number;
  readonly type: number;
  readonly flags: number;
}

/** What the reader yields: a whole frame, or the header of a frame whose payload was discarded. */
export type FrameEvent =
  | { readonly kind: "frame"; readonly header: FrameHeader; readonly payload: Uint8Array }
  | { readonly kind: "oversized"; readonly header: FrameHeader };

/** A pull-style byte source (Deno.Conn, Deno.FsFile and friends). */
export interface ByteReader {
  read(p: Uint8Array): Promise<number | null>;
}

/** Anything the frame reader can pull bytes from. */
export type ByteSource = ReadableStream<Uint8Array> | ByteReader;

/** Writes a header into `out` at `offset` (default 0). Throws on out-of-range values. */
export function encodeHeader(
  h: FrameHeader,
  out: Uint8Array = new Uint8Array(HEADER_SIZE),
  offset = 0,
): Uint8Array {
  checkU32(h.length, "length");
  checkU32(h.streamId, "stream id");
  checkU8(h.type, "type");
  checkU8(h.flags, "flags");
  const v = new DataView(out.buffer, out.byteOffset + offset, HEADER_SIZE);
  v.setUint32(0, h.length, false);
  v.setUint32(4, h.streamId, false);
  v.setUint8(8, h.type);
  v.setUint8(9, h.flags);
  return out;
}

/** Reads a header from the first 10 bytes of `buf` (from `offset`). */
export function decodeHeader(buf: Uint8Array, offset = 0): FrameHeader {
  if (buf.length - offset < HEADER_SIZE) {
    throw new ProtocolError(
      "InvalidArgument",
      `Cannot decode frame header: need 10 bytes, got ${buf.length - offset}`,
    );
  }
  const b = (i: number): number => buf[offset + i] ?? 0;
  return {
    length: b(0) * 0x100_0000 + (b(1) << 16 | b(2) << 8 | b(3)),
    streamId: b(4) * 0x100_0000 + (b(5) << 16 | b(6) << 8 | b(7)),
    type: b(8),
    flags: b(9),
  };
}

/** Header and payload in one buffer (one copy; use for small frames and tests). */
export function encodeFrame(streamId: number, type: number, flags: number, payload: Uint8Array): Uint8Array {
  if (payload.length > MAX_PAYLOAD) {
    throw new ProtocolError(
      "ResourceExhausted",
      `Cannot encode frame on stream ${streamId}: payload of ${payload.length} bytes exceeds ${MAX_PAYLOAD}`,
    );
  }
  const out = new Uint8Array(HEADER_SIZE + payload.length);
  encodeHeader({ length: payload.length, streamId, type, flags }, out);
  out.set(payload, HEADER_SIZE);
  return out;
}

function checkU32(n: number, what: string): void {
  if (!Number.isInteger(n) || n < 0 || n > 0xffff_ffff) {
    throw new ProtocolError("InvalidArgument", `Cannot encode frame header: ${what} ${n} is not a uint32`);
  }
}
function checkU8(n: number, what: string): void {
  if (!Number.isInteger(n) || n < 0 || n > 0xff) {
    throw new ProtocolError("InvalidArgument", `Cannot encode frame header: ${what} ${n} is not a uint8`);
  }
}

const INITIAL_BUF = 256 * 1024;

/** Options of a {@link FrameReader}. */
export interface FrameReaderOptions {
  /** Largest accepted payload (default {@link MAX_PAYLOAD}). */
  maxPayload?: number;
  /**
   * What a frame over `maxPayload` does: `"discard"` (default) skips its payload and reports it as
   * `oversized`; `"fail"` rejects at its header and poisons the reader.
   */
  oversized?: "discard" | "fail";
}

/**
 * Reads frames one at a time from a byte source into one reused buffer (grown on demand up to
 * `maxPayload` + header). Memory use never depends on the peer's length field: with `oversized:
 * "discard"` (the default) payloads over `maxPayload` are read and thrown away in bounded chunks and
 * reported as `oversized`; with `oversized: "fail"` the header alone fails `next()` with
 * `ResourceExhausted` and every later `next()` with the same error, since a peer that claims 4 GiB
 * need never send them and nothing after that header can be trusted. `next()` resolves `null` on a
 * clean end of stream (between frames) and rejects with a `ProtocolError("DataLoss")` when the
 * stream ends inside a frame.
 *
 * The payload of a returned frame is a view into the reader's buffer, valid only until the next
 * call to `next()`: copy it (`slice()`) to keep it. This is what lets streams run without a fresh
 * allocation per frame.
 */
export class FrameReader {
  readonly #pull: (p: Uint8Array) => Promise<number | null>;
  readonly #release: () => void;
  readonly #maxPayload: number;
  readonly #failOversized: boolean;
  #poisoned: ProtocolError | undefined;
  #buf: Uint8Array;
  #start = 0;
  #end = 0;

  constructor(source: ByteSource, opts: FrameReaderOptions = {}) {
    this.#maxPayload = opts.maxPayload ?? MAX_PAYLOAD;
    this.#failOversized = opts.oversized === "fail";
    this.#buf = new Uint8Array(Math.min(INITIAL_BUF, this.#maxPayload + HEADER_SIZE));
    if (source instanceof ReadableStream) {
      const r = streamPuller(source);
      this.#pull = r.read;
      this.#release = r.release;
    } else {
      this.#pull = (p) => source.read(p);
      this.#release = () => {};
    }
  }

  /** Reads the next frame, `null` at a clean end of stream. The payload is borrowed (see above). */
  async next(): Promise<FrameEvent | null> {
    if (this.#poisoned !== undefined) throw this.#poisoned;
    if (!(await this.#fill(HEADER_SIZE, true))) return null;
    const header = decodeHeader(this.#buf, this.#start);
    this.#start += HEADER_SIZE;
    if (header.length > this.#maxPayload) {
      if (this.#failOversized) {
        this.#poisoned = new ProtocolError(
          "ResourceExhausted",
          `Cannot read frame on stream ${header.streamId}: its header claims ${header.length} bytes, more than the maximum of ${this.#maxPayload}`,
        );
        throw this.#poisoned;
      }
      await this.#discard(header.length);
      return { kind: "oversized", header };
    }
    await this.#fill(header.length, false);
    const payload = this.#buf.subarray(this.#start, this.#start + header.length);
    this.#start += header.length;
    return { kind: "frame", header, payload };
  }

  /** Stops reading (releases a stream reader lock). */
  release(): void {
    this.#release();
  }

  /** Makes `need` bytes available from `#start`; false on EOF before any byte when `atBoundary`. */
  async #fill(need: number, atBoundary: boolean): Promise<boolean> {
    if (this.#end - this.#start >= need) return true;
    const have = this.#end - this.#start;
    if (need > this.#buf.length) {
      // Only a frame within the limit gets here, so the buffer stays <= maxPayload + header.
      const grown = new Uint8Array(
        Math.min(Math.max(need, this.#buf.length * 2), this.#maxPayload + HEADER_SIZE),
      );
      grown.set(this.#buf.subarray(this.#start, this.#end));
      this.#buf = grown;
    } else if (this.#start > 0) {
      this.#buf.copyWithin(0, this.#start, this.#end);
    }
    this.#start = 0;
    this.#end = have;
    while (this.#end < need) {
      const n = await this.#pull(this.#buf.subarray(this.#end));
      if (n === null) {
        if (atBoundary && this.#end === 0) return false;
        throw truncated(need - this.#end);
      }
      this.#end += n;
    }
    return true;
  }

  async #discard(length: number): Promise<void> {
    let left = length;
    const buffered = Math.min(this.#end - this.#start, left);
    this.#start += buffered;
    left -= buffered;
    while (left > 0) {
      this.#start = 0;
      this.#end = 0;
      const n = await this.#pull(this.#buf.subarray(0, Math.min(left, this.#buf.length)));
      if (n === null) throw truncated(left);
      left -= n;
    }
  }
}

function truncated(missing: number): ProtocolError {
  return new ProtocolError("DataLoss", `Cannot read frame: stream ended ${missing} bytes early`);
}

/** Adapts a ReadableStream to pull-into-buffer reads, keeping leftovers of big chunks. */
function streamPuller(stream: ReadableStream<Uint8Array>): {
  read: (p: Uint8Array) => Promise<number | null>;
  release: () => void;
} {
  const reader = stream.getReader();
  let rest: Uint8Array | undefined;
  return {
    async read(p) {
      while (rest === undefined || rest.length === 0) {
        const r = await reader.read();
        if (r.done) return null;
        rest = r.value;
      }
      const n = Math.min(p.length, rest.length);
      p.set(rest.subarray(0, n));
      rest = rest.subarray(n);
      return n;
    },
    release() {
      reader.cancel().catch(() => {});
    },
  };
}
