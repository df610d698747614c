/**
 * Process stdio as the RPC layer sees it: reads of at most N bytes from a Web Stream (leftovers kept
 * for the next read), and a stdin writer that can be closed. Nothing is buffered beyond one chunk, so
 * a host that stops reading stops the container's writes (pipe back pressure).
 *
 * @module
 */
import { RuntimeError } from "../../runtime/errors.ts";

/** Reads at most `max` bytes per call from a byte stream. */
export class ChunkReader {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  #pending: Uint8Array | null = null;
  #done = false;
  #tail: Promise<void> = Promise.resolve();
  /** The stream read under way: a reader that gave up (its host went away) leaves it to the next. */
  #inflight: Promise<ReadableStreamReadResult<Uint8Array>> | null = null;

  constructor(stream: ReadableStream<Uint8Array>) {
    this.#reader = stream.getReader();
  }

  /**
   * Next bytes (1..max), or null at end of stream. Concurrent reads are served in call order. A
   * read aborted by `signal` loses no bytes: what arrives goes to the next read.
   */
  read(max: number, signal?: AbortSignal): Promise<Uint8Array | null> {
    if (max <= 0) {
      return Promise.reject(
        new RuntimeError("InvalidArgument", `Cannot read ${max} bytes: expected a positive length`),
      );
    }
    const next = this.#tail.then(() => this.#readNow(max, signal));
    this.#tail = next.then(() => {}, () => {});
    return next;
  }

  async #readNow(max: number, signal?: AbortSignal): Promise<Uint8Array | null> {
    let chunk = this.#pending;
    this.#pending = null;
    while (!chunk || chunk.length === 0) {
      if (this.#done) return null;
      this.#inflight ??= this.#reader.read();
      const r = signal === undefined ? await this.#inflight : await untilAborted(this.#inflight, signal);
      this.#inflight = null;
      if (r.done) {
        this.#done = true;
        return null;
      }
      chunk = r.value;
    }
    if (chunk.length > max) {
      this.#pending = chunk.subarray(max);
      return chunk.subarray(0, max);
    }
    return chunk;
  }

  /** Reads until end of stream (tests, small outputs). */
  async readAll(limit = 1 << 20): Promise<Uint8Array> {
    const parts: Uint8Array[] = [];
    let total = 0;
    for (;;) {
      const c = await this.read(65536);
      if (!c) break;
      if (total + c.length > limit) break;
      parts.push(c.slice());
      total += c.length;
    }
    const out = new Uint8Array(total);
    let off = 0;
    for (const p of parts) {
      out.set(p, off);
      off += p.length;
    }
    return out;
  }

  cancel(): void {
    this.#done = true;
    this.#reader.cancel().catch(() => {});
  }
}

/** Stdin of a process: write, then close (EOF). */
export class StdinWriter {
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  /** Bytes written at close for a terminal (VEOF, ^D), since a pty has no EOF of its own. */
  readonly #eofBytes: Uint8Array | null;
  #closed = false;

  constructor(stream: WritableStream<Uint8Array>, opts: { terminal: boolean }) {
    this.#writer = stream.getWriter();
    this.#eofBytes = opts.terminal ? new Uint8Array([4]) : null;
  }

  get closed(): boolean {
    return this.#closed;
  }

  async write(data: Uint8Array): Promise<number> {
    if (this.#closed) throw new RuntimeError("FailedPrecondition", "Cannot write to stdin: it is closed");
    await this.#writer.ready;
    await this.#writer.write(data);
    return data.length;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      if (this.#eofBytes) await this.#writer.write(this.#eofBytes);
      else await this.#writer.close();
    } catch {
      // the process is gone: its stdin is closed already
    }
  }
}

/** `p`, or a rejection once `signal` aborts (`p` goes on). */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}
