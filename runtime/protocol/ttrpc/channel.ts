/**
 * The only file that touches the byte stream. A {@link Channel} reads frames from a duplex and
 * writes frames to it: writes are serialised, queued frames are coalesced into one write, and each
 * `send()` resolves once its bytes were handed to the transport (back pressure for the caller).
 * Adapters: {@link connDuplex} (unix socket `Deno.Conn`), {@link fileDuplex} / {@link openFileDuplex}
 * (a character device such as a virtio-serial port `/dev/vport*`), {@link memoryDuplexPair} (tests).
 *
 * @module
 */
import { ProtocolError } from "../../errors.ts";
import { openDeviceDuplex } from "./channel_device.ts";
import type { Duplex } from "./duplex.ts";

export type { Duplex } from "./duplex.ts";
import { encodeHeader, type FrameEvent, FrameReader, HEADER_SIZE, MAX_PAYLOAD } from "./frame.ts";

/** Options of a {@link Channel}. */
export interface ChannelOptions {
  /** Largest accepted payload (default 4 MiB). */
  maxPayload?: number;
  /**
   * What a frame over `maxPayload` does: `"discard"` (default, the server) skips it and reports it;
   * `"fail"` (the client) makes `recv()` reject at once with `ResourceExhausted`, for good.
   */
  oversized?: "discard" | "fail";
}

interface Pending {
  readonly streamId: number;
  readonly type: number;
  readonly flags: number;
  readonly payload: Uint8Array;
  readonly resolve: () => void;
  readonly reject: (e: unknown) => void;
}

const BATCH_BYTES = 256 * 1024;
const COPY_LIMIT = 128 * 1024;

/** A framed connection. One reader (`recv`) and any number of concurrent senders. */
export class Channel {
  readonly #duplex: Duplex;
  readonly #reader: FrameReader;
  readonly #write: (p: Uint8Array) => Promise<void>;
  readonly #reuse: boolean;
  #queue: Pending[] = [];
  #writing = false;
  #closed = false;
  #closeError: unknown;
  #scratch: Uint8Array | undefined;
  readonly #done = Promise.withResolvers<void>();

  constructor(duplex: Duplex, opts: ChannelOptions = {}) {
    this.#duplex = duplex;
    const src = duplex.read ? { read: duplex.read.bind(duplex) } : duplex.readable;
    this.#reader = new FrameReader(src, {
      maxPayload: opts.maxPayload ?? MAX_PAYLOAD,
      oversized: opts.oversized ?? "discard",
    });
    if (duplex.write) {
      const w = duplex.write.bind(duplex);
      this.#reuse = true;
      this.#write = async (p) => {
        let off = 0;
        while (off < p.length) off += await w(p.subarray(off));
      };
    } else {
      const writer = duplex.writable.getWriter();
      this.#reuse = false;
      this.#write = async (p) => {
        await writer.ready;
        await writer.write(p);
      };
    }
  }

  /** True once closed (locally or because the transport failed). */
  get closed(): boolean {
    return this.#closed;
  }

  /** Resolves when the channel is closed. */
  get done(): Promise<void> {
    return this.#done.promise;
  }

  /** The next frame; `null` at end of stream or after close. Rejects on a broken stream. */
  async recv(): Promise<FrameEvent | null> {
    if (this.#closed) return null;
    try {
      return await this.#reader.next();
    } catch (e) {
      if (this.#closed) return null;
      if (e instanceof ProtocolError) throw e;
      throw new ProtocolError("Unavailable", `Cannot read frame: ${e instanceof Error ? e.message : e}`, {
        cause: e,
      });
    }
  }

  /** Queues one frame; resolves when written. Rejects with `Unavailable` once the channel is closed. */
  send(streamId: number, type: number, flags: number, payload: Uint8Array): Promise<void> {
    if (this.#closed) return Promise.reject(this.#unavailable());
    if (payload.length > MAX_PAYLOAD) {
      return Promise.reject(
        new ProtocolError(
          "ResourceExhausted",
          `Cannot send frame on stream ${streamId}: payload of ${payload.length} bytes exceeds ${MAX_PAYLOAD}`,
        ),
      );
    }
    try {
      checkHeader(streamId, type, flags);
    } catch (e) {
      return Promise.reject(e);
    }
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    this.#queue.push({ streamId, type, flags, payload, resolve, reject });
    if (!this.#writing) void this.#flush();
    return promise;
  }

  /** Closes the transport; queued sends fail with `Unavailable`. Idempotent. */
  close(reason?: unknown): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeError = reason;
    const q = this.#queue;
    this.#queue = [];
    for (const p of q) p.reject(this.#unavailable());
    try {
      this.#duplex.close();
    } catch {
      // already closed by the peer or the OS
    }
    this.#reader.release();
    this.#done.resolve();
  }

  #unavailable(): ProtocolError {
    return new ProtocolError("Unavailable", "Cannot send frame: connection closed", {
      cause: this.#closeError,
    });
  }

  async #flush(): Promise<void> {
    this.#writing = true;
    try {
      while (this.#queue.length > 0 && !this.#closed) {
        const batch = this.#takeBatch();
        try {
          await this.#writeBatch(batch);
        } catch (e) {
          const err = new ProtocolError(
            "Unavailable",
            `Cannot write frame: ${e instanceof Error ? e.message : e}`,
            {
              cause: e,
            },
          );
          for (const p of batch) p.reject(err);
          this.close(err);
          return;
        }
        for (const p of batch) p.resolve();
      }
    } finally {
      this.#writing = false;
    }
  }

  #takeBatch(): Pending[] {
    let bytes = 0;
    let n = 0;
    for (const p of this.#queue) {
      const size = HEADER_SIZE + p.payload.length;
      if (n > 0 && bytes + size > BATCH_BYTES) break;
      bytes += size;
      n++;
    }
    return this.#queue.splice(0, n);
  }

  async #writeBatch(batch: Pending[]): Promise<void> {
    const first = batch[0];
    if (batch.length === 1 && first !== undefined && first.payload.length > COPY_LIMIT) {
      // One big frame: two writes beat copying megabytes.
      await this.#write(encodeHeader({ length: first.payload.length, ...first }));
      await this.#write(first.payload);
      return;
    }
    let total = 0;
    for (const p of batch) total += HEADER_SIZE + p.payload.length;
    let out: Uint8Array;
    if (this.#reuse) {
      if (this.#scratch === undefined || this.#scratch.length < total) {
        this.#scratch = new Uint8Array(Math.max(total, BATCH_BYTES + HEADER_SIZE));
      }
      out = this.#scratch.subarray(0, total);
    } else {
      out = new Uint8Array(total);
    }
    let off = 0;
    for (const p of batch) {
      putHeader(out, off, p);
      out.set(p.payload, off + HEADER_SIZE);
      off += HEADER_SIZE + p.payload.length;
    }
    await this.#write(out);
  }
}

function checkHeader(streamId: number, type: number, flags: number): void {
  if (!Number.isInteger(streamId) || streamId < 0 || streamId > 0xffff_ffff) {
    throw new ProtocolError("InvalidArgument", `Cannot send frame: stream id ${streamId} is not a uint32`);
  }
  if (
    !Number.isInteger(type) || type < 0 || type > 0xff || !Number.isInteger(flags) || flags < 0 ||
    flags > 0xff
  ) {
    throw new ProtocolError(
      "InvalidArgument",
      `Cannot send frame: type ${type} or flags ${flags} is not a uint8`,
    );
  }
}

/** Writes a 10-byte header in place (values already checked). */
function putHeader(out: Uint8Array, off: number, p: Pending): void {
  const len = p.payload.length;
  const id = p.streamId;
  out[off] = len >>> 24;
  out[off + 1] = (len >>> 16) & 0xff;
  out[off + 2] = (len >>> 8) & 0xff;
  out[off + 3] = len & 0xff;
  out[off + 4] = id >>> 24;
  out[off + 5] = (id >>> 16) & 0xff;
  out[off + 6] = (id >>> 8) & 0xff;
  out[off + 7] = id & 0xff;
  out[off + 8] = p.type;
  out[off + 9] = p.flags;
}

/** A duplex over a connected socket (unix or TCP). */
export function connDuplex(conn: Deno.Conn): Duplex {
  return {
    get readable() {
      return conn.readable;
    },
    get writable() {
      return conn.writable;
    },
    read: (p) => conn.read(p),
    write: (p) => conn.write(p),
    close: () => conn.close(),
  };
}

/**
 * A duplex over an open `Deno.FsFile`. Deno runs one operation at a time per file handle, so a
 * read that blocks (a character device with no data) also blocks writes: use this only for files
 * whose reads never wait (regular files, test fixtures). For devices use {@link openFileDuplex}.
 */
export function fileDuplex(file: Deno.FsFile): Duplex {
  return {
    get readable() {
      return file.readable;
    },
    get writable() {
      return file.writable;
    },
    read: (p) => file.read(p),
    write: (p) => file.write(p),
    close: () => file.close(),
  };
}

/**
 * Opens a character device (e.g. the virtio-serial port `/dev/vport1p1`) read-write as a full-duplex
 * stream, through libc with FFI (needs `--allow-ffi`; see `channel_device.ts` for why).
 */
export function openFileDuplex(path: string): Promise<Duplex> {
  return openDeviceDuplex(path);
}

/**
 * Two connected in-memory duplexes: bytes written to one are read from the other. Writes resolve
 * only when the peer has taken the chunk (back pressure). Closing either end ends both directions.
 */
export function memoryDuplexPair(): [Duplex, Duplex] {
  const ab = new TransformStream<Uint8Array, Uint8Array>();
  const ba = new TransformStream<Uint8Array, Uint8Array>();
  return [memoryEnd(ba.readable, ab.writable), memoryEnd(ab.readable, ba.writable)];
}

function memoryEnd(inbound: ReadableStream<Uint8Array>, outbound: WritableStream<Uint8Array>): Duplex {
  const reader = inbound.getReader();
  const writer = outbound.getWriter();
  let closed = false;
  const close = (): void => {
    if (closed) return;
    closed = true;
    // The peer reads EOF after what we already wrote; what it still sends us is refused.
    writer.close().catch(() => {});
    reader.cancel().catch(() => {});
  };
  const readable = new ReadableStream<Uint8Array>({
    async pull(c) {
      const r = closed ? { done: true as const } : await reader.read().catch(() => ({ done: true as const }));
      if (r.done) c.close();
      else c.enqueue(r.value);
    },
    cancel: close,
  }, { highWaterMark: 0 });
  const writable = new WritableStream<Uint8Array>({
    async write(chunk) {
      if (closed) throw new ProtocolError("Unavailable", "Cannot write: memory duplex closed");
      await writer.write(chunk);
    },
    close,
    abort: close,
  });
  return { readable, writable, close };
}
