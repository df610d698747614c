/**
 * ttRPC client: many concurrent calls on one connection (odd stream ids 1, 3, 5, ...), replies in
 * any order, per-call timeout and AbortSignal, metadata, and ttrpc 1.2 streams.
 *
 * @module
 */
import { ProtocolError } from "../../errors.ts";
import { type Logger, rootLog } from "../../log/logger.ts";
import { Channel, type ChannelOptions, connDuplex, type Duplex, openFileDuplex } from "./channel.ts";
import { ClientStream } from "./client_stream.ts";
import { decodeResponse, encodeRequest } from "./envelope.ts";
import { Flags, type FrameEvent, MAX_PAYLOAD, MessageType } from "./frame.ts";
import { type MetadataInit, toKeyValues } from "./metadata.ts";
import { errorOfStatus } from "./status.ts";

/**
 * Options of a {@link TtrpcClient}. `oversized` defaults to `"fail"` here: a reply frame whose
 * header claims more than `maxPayload` closes the connection and fails every pending call at once,
 * rather than waiting for bytes an untrusted server need never send.
 */
export interface ClientOptions extends ChannelOptions {
  log?: Logger;
  /** Messages buffered per stream before the connection's read loop pauses (default 16). */
  streamHighWaterMark?: number;
  /**
   * Stream id of the first call (odd, default 1). A new connection to a server session that may
   * still hold requests of an earlier connection (a virtio-serial port keeps what an abandoned
   * connection wrote) starts above that connection's ids, so stale replies cannot match new calls.
   */
  firstStreamId?: number;
}

/** Per-call options. */
export interface CallOptions {
  /** Deadline in milliseconds: sent as `timeout_nano`, and the call fails locally with `DeadlineExceeded`. */
  timeoutMs?: number;
  signal?: AbortSignal;
  metadata?: MetadataInit;
}

/** Options of {@link TtrpcClient.stream}. */
export interface StreamOptions extends CallOptions {
  /** The client sends Data frames (Request flags 0x02). Default true. False = server streaming (0x01). */
  clientStreaming?: boolean;
  /** The request message of a server-streaming call (ignored when `clientStreaming`). */
  request?: Uint8Array;
  /**
   * Zero-copy receive: each message is a view into the connection's read buffer, valid only until
   * you ask for the next one (copy it to keep it). Default false (each message is its own copy).
   */
  borrow?: boolean;
}

interface UnaryEntry {
  readonly kind: "unary";
  readonly what: string;
  readonly resolve: (p: Uint8Array) => void;
  readonly reject: (e: unknown) => void;
}
interface StreamEntry {
  readonly kind: "stream";
  readonly stream: ClientStream;
}
type Entry = UnaryEntry | StreamEntry;

const EMPTY = new Uint8Array(0);

function firstStreamId(opts: ClientOptions): number {
  const first = opts.firstStreamId ?? 1;
  if (!Number.isSafeInteger(first) || first < 1 || first % 2 !== 1 || first > 0xffff_ffff) {
    throw new ProtocolError(
      "InvalidArgument",
      `Invalid first stream id ${first}: expected an odd integer from 1 to 4294967295`,
    );
  }
  return first;
}

/** A ttRPC client over one connection. */
export class TtrpcClient {
  readonly #channel: Channel;
  readonly #log: Logger;
  readonly #hwm: number;
  readonly #calls = new Map<number, Entry>();
  readonly #loop: Promise<void>;
  #nextId = 1;
  #closed = false;
  /** Why the connection closed (a read error), for the errors of pending and later calls. */
  #closeReason: unknown;

  constructor(transport: Duplex | Channel, opts: ClientOptions = {}) {
    this.#channel = transport instanceof Channel
      ? transport
      : new Channel(transport, { ...opts, oversized: opts.oversized ?? "fail" });
    this.#log = opts.log ?? rootLog().child({ subsystem: "ttrpc-client" });
    this.#hwm = opts.streamHighWaterMark ?? 16;
    this.#nextId = firstStreamId(opts);
    this.#loop = this.#readLoop();
  }

  /** Connects to a unix socket. */
  static async connect(path: string, opts: ClientOptions = {}): Promise<TtrpcClient> {
    firstStreamId(opts);
    try {
      return new TtrpcClient(connDuplex(await Deno.connect({ transport: "unix", path })), opts);
    } catch (e) {
      const code = e instanceof Deno.errors.NotFound ? "NotFound" : "Unavailable";
      throw new ProtocolError(
        code,
        `Cannot connect to ttrpc socket "${path}": ${e instanceof Error ? e.message : e}`,
        {
          cause: e,
        },
      );
    }
  }

  /** Opens a character device / file read-write (a virtio-serial port such as `/dev/vport1p1`). */
  static async openFile(path: string, opts: ClientOptions = {}): Promise<TtrpcClient> {
    return new TtrpcClient(await openFileDuplex(path), opts);
  }

  /** True once the connection is closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Resolves when the connection has closed and every pending call has failed. */
  get done(): Promise<void> {
    return this.#loop;
  }

  /** The stream id the next call will use (odd; a reconnection continues above it). */
  get nextStreamId(): number {
    return this.#nextId;
  }

  /** Number of calls and streams waiting for the server. */
  get pending(): number {
    return this.#calls.size;
  }

  /** A unary call: sends `payload`, resolves with the response payload, rejects with the peer's status. */
  call(service: string, method: string, payload: Uint8Array, opts: CallOptions = {}): Promise<Uint8Array> {
    const what = `"${service}/${method}"`;
    const { promise, resolve, reject } = Promise.withResolvers<Uint8Array>();
    const started = this.#start(service, method, payload, 0, what, opts, (id, cleanup) => {
      let settled = false;
      const entry: UnaryEntry = {
        kind: "unary",
        what,
        resolve: (p) => {
          if (settled) return;
          settled = true;
          cleanup();
          resolve(p);
        },
        reject: (e) => {
          if (settled) return;
          settled = true;
          cleanup();
          reject(e);
        },
      };
      this.#calls.set(id, entry);
      return entry.reject;
    });
    if (started !== undefined) reject(started);
    return promise;
  }

  /** Opens a ttrpc 1.2 stream. The Request frame is queued before this returns. */
  stream(service: string, method: string, opts: StreamOptions = {}): ClientStream {
    const what = `"${service}/${method}"`;
    const clientStreaming = opts.clientStreaming ?? true;
    let stream: ClientStream | undefined;
    const err = this.#start(
      service,
      method,
      clientStreaming ? EMPTY : opts.request ?? EMPTY,
      clientStreaming ? Flags.RemoteOpen : Flags.RemoteClosed,
      what,
      opts,
      (id, cleanup) => {
        const s = new ClientStream(id, what, {
          send: (type, flags, p) => this.#channel.send(id, type, flags, p),
          detach: cleanup,
        }, { sendClosed: !clientStreaming, highWaterMark: this.#hwm, borrow: opts.borrow ?? false });
        stream = s;
        this.#calls.set(id, { kind: "stream", stream: s });
        return (e) => s.fail(e);
      },
    );
    if (err !== undefined) throw err;
    if (stream === undefined) throw new ProtocolError("Internal", `Cannot open stream ${what}`);
    return stream;
  }

  /** Closes the connection; pending calls fail with `Unavailable`. */
  async close(): Promise<void> {
    this.#shutdown(undefined);
    await this.#loop;
  }

  /** Registers a call, arms its deadline and signal, and sends the Request. Returns an error instead of throwing. */
  #start(
    service: string,
    method: string,
    payload: Uint8Array,
    flags: number,
    what: string,
    opts: CallOptions,
    register: (id: number, cleanup: () => void) => (e: unknown) => void,
  ): ProtocolError | undefined {
    if (this.#closed) return this.#closedError(what);
    const signal = opts.signal;
    if (signal?.aborted) return abortError(what, signal.reason);
    const timeoutMs = opts.timeoutMs;
    const timeoutNano = timeoutMs !== undefined && timeoutMs > 0 ? BigInt(Math.ceil(timeoutMs * 1e6)) : 0n;
    const req = encodeRequest({
      service,
      method,
      payload,
      timeoutNano,
      metadata: toKeyValues(opts.metadata),
    });
    if (req.length > MAX_PAYLOAD) {
      return new ProtocolError(
        "ResourceExhausted",
        `Cannot call ${what}: request of ${req.length} bytes exceeds ${MAX_PAYLOAD}`,
      );
    }
    if (this.#nextId > 0xffff_ffff) {
      this.#shutdown(undefined);
      return new ProtocolError("Unavailable", `Cannot call ${what}: stream ids exhausted, reconnect`);
    }
    const id = this.#nextId;
    this.#nextId += 2;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const onAbort = (): void => fail(abortError(what, signal?.reason));
    const cleanup = (): void => {
      if (timer !== undefined) clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      this.#calls.delete(id);
    };
    const fail = register(id, cleanup);
    if (timeoutNano > 0n) {
      timer = setTimeout(
        () =>
          fail(
            new ProtocolError("DeadlineExceeded", `Cannot call ${what}: no response within ${timeoutMs} ms`),
          ),
        timeoutMs,
      );
    }
    signal?.addEventListener("abort", onAbort, { once: true });
    this.#channel.send(id, MessageType.Request, flags, req).catch((e) => fail(callError(what, e)));
    return undefined;
  }

  async #readLoop(): Promise<void> {
    let reason: unknown;
    try {
      for (;;) {
        const ev = await this.#channel.recv();
        if (ev === null) break;
        const wait = this.#dispatch(ev);
        if (wait !== undefined) await wait;
      }
    } catch (e) {
      reason = e;
      this.#log.limited.warn("connection failed", { error: e instanceof Error ? e.message : String(e) });
    }
    this.#shutdown(reason);
  }

  #dispatch(ev: FrameEvent): Promise<void> | undefined {
    const id = ev.header.streamId;
    const entry = this.#calls.get(id);
    if (entry === undefined) return undefined; // late reply after a timeout, or a stray frame
    const what = entry.kind === "unary" ? entry.what : entry.stream.what;
    if (ev.kind === "oversized") {
      const e = new ProtocolError(
        "ResourceExhausted",
        `Cannot call ${what}: reply of ${ev.header.length} bytes exceeds ${MAX_PAYLOAD}`,
      );
      if (entry.kind === "unary") entry.reject(e);
      else entry.stream.fail(e);
      return undefined;
    }
    const { header, payload } = ev;
    if (header.type === MessageType.Response) {
      let resp;
      try {
        resp = decodeResponse(payload.slice()); // frame payloads are borrowed from the reader
      } catch (e) {
        if (entry.kind === "unary") entry.reject(e);
        else entry.stream.fail(e);
        return undefined;
      }
      const err = errorOfStatus(resp.status, what);
      if (entry.kind === "unary") {
        if (err) entry.reject(err);
        else entry.resolve(resp.payload);
        return undefined;
      }
      if (err) {
        entry.stream.fail(err);
        return undefined;
      }
      const wait = resp.payload.length > 0 ? entry.stream.deliver(resp.payload) : undefined;
      entry.stream.end();
      return wait;
    }
    if (header.type === MessageType.Data) {
      if (entry.kind === "unary") {
        entry.reject(
          new ProtocolError("DataLoss", `Cannot call ${what}: unexpected Data frame on a unary call`),
        );
        return undefined;
      }
      const last = (header.flags & Flags.RemoteClosed) !== 0;
      const msg = entry.stream.borrow && !last ? payload : payload.slice();
      const wait = (header.flags & Flags.NoData) === 0 ? entry.stream.deliver(msg) : undefined;
      if (last) entry.stream.end();
      return wait;
    }
    return undefined; // unknown frame types are ignored for forward compatibility
  }

  #shutdown(reason: unknown): void {
    if (!this.#closed) {
      this.#closed = true;
      this.#closeReason = reason;
      this.#channel.close(reason);
    }
    const entries = [...this.#calls.values()];
    this.#calls.clear();
    for (const entry of entries) {
      const e = this.#closedError(entry.kind === "unary" ? entry.what : entry.stream.what);
      if (entry.kind === "unary") entry.reject(e);
      else entry.stream.fail(e);
    }
  }

  /** `Unavailable`, with the read error that closed the connection when there was one. */
  #closedError(what: string): ProtocolError {
    const reason = this.#closeReason;
    const why = reason instanceof Error ? `: ${reason.message}` : "";
    return new ProtocolError("Unavailable", `Cannot call ${what}: connection closed${why}`, {
      ...(reason !== undefined ? { cause: reason } : {}),
    });
  }
}

function abortError(what: string, reason: unknown): ProtocolError {
  const timeout = reason instanceof DOMException && reason.name === "TimeoutError";
  return new ProtocolError(timeout ? "DeadlineExceeded" : "Cancelled", `Cannot call ${what}: aborted`, {
    cause: reason,
  });
}

function callError(what: string, e: unknown): ProtocolError {
  if (e instanceof ProtocolError) {
    return new ProtocolError(e.code, `Cannot call ${what}: ${e.message}`, { cause: e });
  }
  return new ProtocolError("Unavailable", `Cannot call ${what}: ${e instanceof Error ? e.message : e}`, {
    cause: e,
  });
}
