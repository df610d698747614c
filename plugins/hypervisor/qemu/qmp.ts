/**
 * A QMP (QEMU Machine Protocol) client over the unix socket QEMU listens on. One JSON object per
 * line: a greeting, then `qmp_capabilities`, then commands answered by `return`/`error` carrying
 * the command's `id`, interleaved with asynchronous `event`s.
 *
 * @module
 */
import { type ErrorCode, HypervisorError } from "../../../runtime/errors.ts";
import { isRecord } from "../../../runtime/sys/files.ts";

/** An asynchronous QMP event (SHUTDOWN, STOP, RESUME, DEVICE_DELETED...). */
export interface QmpEvent {
  readonly event: string;
  readonly data: Readonly<Record<string, unknown>>;
  /** Microseconds since the epoch, from QEMU's timestamp. */
  readonly timestampUs: number;
}

/** A command QEMU answered with an `error`. */
export class QmpError extends HypervisorError {
  override name = "QmpError";
  /** QMP error class, e.g. "GenericError", "DeviceNotFound", "CommandNotFound". */
  readonly qmpClass: string;
  readonly qmpDesc: string;
  constructor(command: string, qmpClass: string, desc: string) {
    super(codeOfClass(qmpClass), `QMP command "${command}" failed: ${qmpClass}: ${desc}`);
    this.qmpClass = qmpClass;
    this.qmpDesc = desc;
  }
}

function codeOfClass(c: string): ErrorCode {
  switch (c) {
    case "CommandNotFound":
      return "Unimplemented";
    case "DeviceNotFound":
      return "NotFound";
    case "DeviceNotActive":
      return "FailedPrecondition";
    case "KVMMissingCap":
      return "Unavailable";
    default:
      return "Internal";
  }
}

export interface QmpConnectOptions {
  /** Time to wait for the socket and greeting (default 10 s). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface QmpCommandOptions {
  /** Time to wait for the answer (default 30 s). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

interface Pending {
  command: string;
  resolve(v: unknown): void;
  reject(e: unknown): void;
}

type EventListener = (e: QmpEvent) => void;

/** A connected, capability-negotiated QMP session. Create with {@link QmpClient.connect}. */
export class QmpClient {
  readonly #conn: Deno.UnixConn;
  readonly #path: string;
  readonly #pending = new Map<number, Pending>();
  readonly #listeners = new Set<EventListener>();
  readonly #closed: Promise<void>;
  #nextId = 1;
  #isClosed = false;
  #greeting: (v: Record<string, unknown>) => void = () => {};
  readonly #greeted: Promise<Record<string, unknown>>;
  #version = "";

  private constructor(conn: Deno.UnixConn, path: string) {
    this.#conn = conn;
    this.#path = path;
    this.#greeted = new Promise((resolve) => (this.#greeting = resolve));
    this.#closed = this.#readLoop();
  }

  /** Connects to `path`, reads the greeting and negotiates capabilities. */
  static async connect(path: string, opts: QmpConnectOptions = {}): Promise<QmpClient> {
    const timeoutMs = opts.timeoutMs ?? 10_000;
    const deadline = Date.now() + timeoutMs;
    let conn: Deno.UnixConn | undefined;
    let lastErr: unknown;
    while (conn === undefined) {
      opts.signal?.throwIfAborted();
      try {
        conn = await Deno.connect({ transport: "unix", path });
      } catch (e) {
        lastErr = e;
        const retry = e instanceof Deno.errors.NotFound || e instanceof Deno.errors.ConnectionRefused;
        if (!retry || Date.now() >= deadline) {
          throw new HypervisorError("Unavailable", `Cannot connect to QMP socket "${path}": ${String(e)}`, {
            cause: lastErr,
          });
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    const client = new QmpClient(conn, path);
    try {
      const greeting = await withTimeout(client.#greeted, Math.max(1, deadline - Date.now()), opts.signal);
      const qmp = greeting["QMP"];
      if (isRecord(qmp) && isRecord(qmp["version"]) && isRecord(qmp["version"]["qemu"])) {
        const v = qmp["version"]["qemu"];
        client.#version = `${v["major"]}.${v["minor"]}.${v["micro"]}`;
      }
      await client.execute("qmp_capabilities", undefined, { timeoutMs: Math.max(1, deadline - Date.now()) });
    } catch (e) {
      client.close();
      if (e instanceof HypervisorError) throw e;
      throw new HypervisorError(
        "DeadlineExceeded",
        `Cannot negotiate QMP on "${path}": no greeting in ${timeoutMs} ms`,
        {
          cause: e,
        },
      );
    }
    return client;
  }

  /** QEMU's version from the greeting, "7.2.22". */
  get version(): string {
    return this.#version;
  }

  /** Resolves when the connection is closed (QEMU exited or {@link close} was called). */
  get closed(): Promise<void> {
    return this.#closed;
  }

  get isClosed(): boolean {
    return this.#isClosed;
  }

  /** Runs a command and returns its `return` value; throws {@link QmpError} for an `error` answer. */
  async execute(
    command: string,
    args?: Readonly<Record<string, unknown>>,
    opts: QmpCommandOptions = {},
  ): Promise<unknown> {
    if (this.#isClosed) {
      throw new HypervisorError(
        "Unavailable",
        `Cannot run QMP command "${command}": the connection to "${this.#path}" is closed`,
      );
    }
    const id = this.#nextId++;
    const msg: Record<string, unknown> = { execute: command, id };
    if (args !== undefined) msg["arguments"] = args;
    const answer = new Promise<unknown>((resolve, reject) =>
      this.#pending.set(id, { command, resolve, reject })
    );
    // The connection may close while the command is being written: that rejection is seen below,
    // not reported as unhandled.
    answer.catch(() => {});
    try {
      await this.#write(JSON.stringify(msg) + "\n");
      return await withTimeout(answer, opts.timeoutMs ?? 30_000, opts.signal);
    } catch (e) {
      if (e instanceof DOMException && e.name === "TimeoutError") {
        throw new HypervisorError(
          "DeadlineExceeded",
          `QMP command "${command}" timed out after ${opts.timeoutMs ?? 30_000} ms`,
          {
            cause: e,
          },
        );
      }
      throw e;
    } finally {
      this.#pending.delete(id);
    }
  }

  /** Calls `fn` for every event until the returned function is called. */
  onEvent(fn: EventListener): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /** All events from now on, ending when the connection closes or `signal` aborts. */
  async *events(opts: { signal?: AbortSignal } = {}): AsyncGenerator<QmpEvent> {
    const queue: QmpEvent[] = [];
    let wake: () => void = () => {};
    const off = this.onEvent((e) => {
      queue.push(e);
      wake();
    });
    const onAbort = (): void => wake();
    opts.signal?.addEventListener("abort", onAbort);
    void this.#closed.then(() => wake());
    try {
      while (true) {
        const next = queue.shift();
        if (next) {
          yield next;
          continue;
        }
        if (this.#isClosed || opts.signal?.aborted) return;
        await new Promise<void>((r) => (wake = r));
      }
    } finally {
      off();
      opts.signal?.removeEventListener("abort", onAbort);
    }
  }

  /**
   * Waits for the first event for which `match` is true. Register before triggering the event
   * (call this first, then run the command, then await the promise).
   */
  waitEvent(match: (e: QmpEvent) => boolean, opts: QmpCommandOptions = {}): Promise<QmpEvent> {
    let off: () => void = () => {};
    const p = new Promise<QmpEvent>((resolve, reject) => {
      off = this.onEvent((e) => {
        if (match(e)) resolve(e);
      });
      void this.#closed.then(() =>
        reject(
          new HypervisorError(
            "Unavailable",
            `QMP connection to "${this.#path}" closed while waiting for an event`,
          ),
        )
      );
    });
    const timeoutMs = opts.timeoutMs ?? 30_000;
    return withTimeout(p, timeoutMs, opts.signal).catch((e: unknown) => {
      if (e instanceof DOMException && e.name === "TimeoutError") {
        throw new HypervisorError("DeadlineExceeded", `No matching QMP event within ${timeoutMs} ms`, {
          cause: e,
        });
      }
      throw e;
    }).finally(off);
  }

  /** Closes the connection; pending commands fail with `Unavailable`. */
  close(): void {
    if (this.#isClosed) return;
    this.#isClosed = true;
    try {
      this.#conn.close();
    } catch {
      // already closed
    }
  }

  async #write(s: string): Promise<void> {
    const data = new TextEncoder().encode(s);
    let off = 0;
    try {
      while (off < data.length) off += await this.#conn.write(data.subarray(off));
    } catch (e) {
      throw new HypervisorError("Unavailable", `Cannot write to QMP socket "${this.#path}"`, { cause: e });
    }
  }

  async #readLoop(): Promise<void> {
    const dec = new TextDecoder();
    let buf = "";
    const chunk = new Uint8Array(64 * 1024);
    try {
      while (true) {
        const n = await this.#conn.read(chunk);
        if (n === null) break;
        buf += dec.decode(chunk.subarray(0, n), { stream: true });
        if (buf.length > 16 * 1024 * 1024) break; // runaway peer
        let nl: number;
        while ((nl = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (line !== "") this.#dispatch(line);
        }
      }
    } catch {
      // connection reset or closed by close()
    } finally {
      this.close();
      const err = new HypervisorError("Unavailable", `QMP connection to "${this.#path}" closed`);
      for (const p of this.#pending.values()) p.reject(err);
      this.#pending.clear();
    }
  }

  #dispatch(line: string): void {
    let msg: unknown;
    try {
      msg = JSON.parse(line);
    } catch {
      return; // not JSON: ignore
    }
    if (!isRecord(msg)) return;
    if ("QMP" in msg) {
      this.#greeting(msg);
      return;
    }
    if (typeof msg["event"] === "string") {
      const ts = msg["timestamp"];
      let us = 0;
      if (isRecord(ts) && typeof ts["seconds"] === "number" && typeof ts["microseconds"] === "number") {
        us = ts["seconds"] * 1e6 + ts["microseconds"];
      }
      const ev: QmpEvent = {
        event: msg["event"],
        data: isRecord(msg["data"]) ? msg["data"] : {},
        timestampUs: us,
      };
      for (const l of [...this.#listeners]) l(ev);
      return;
    }
    const id = msg["id"];
    if (typeof id !== "number") return;
    const p = this.#pending.get(id);
    if (!p) return;
    if ("return" in msg) {
      p.resolve(msg["return"]);
    } else if (isRecord(msg["error"])) {
      const err = msg["error"];
      p.reject(new QmpError(p.command, String(err["class"] ?? "GenericError"), String(err["desc"] ?? "")));
    }
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, signal?: AbortSignal): Promise<T> {
  const signals = [AbortSignal.timeout(ms)];
  if (signal) signals.push(signal);
  const any = AbortSignal.any(signals);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(any.reason);
    if (any.aborted) return onAbort();
    any.addEventListener("abort", onAbort, { once: true });
    p.then(resolve, reject).finally(() => any.removeEventListener("abort", onAbort));
  });
}
