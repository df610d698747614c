/**
 * One client connection (containerd's, to a shim socket) kept open across daemon restarts. The
 * supervisor accepted it; the relay copies whole ttRPC frames to a connection on the daemon's
 * backend socket and back. When the daemon dies the client sees nothing: the relay dials the next
 * daemon and sends it the calls still unanswered. A call that only reads, waits or repeats a state
 * (State, Wait, CloseIO...) is sent again; any other call that the dead daemon had received is answered UNAVAILABLE, since
 * nobody knows whether it took effect. Calls that arrive while no daemon runs wait for the next.
 *
 * The relay reads frames, never interprets a payload but the request's service and method, and
 * holds at most {@link MAX_PENDING} unanswered calls (16 MiB) per connection; each side is read
 * only as fast as the other takes what it wrote.
 *
 * @module
 */
import {
  decodeRequest,
  encodeFrame,
  encodeResponse,
  type FrameEvent,
  FrameReader,
  MessageType,
} from "../../protocol/ttrpc/mod.ts";
import { Code } from "../../protocol/ttrpc/status.ts";
import type { Logger } from "../../log/logger.ts";
import { writeAll } from "./wire.ts";

/**
 * Calls a restarted daemon may answer again: they read, wait, or set a state that a second call
 * leaves the same (closing stdin, a window size). `ctr task exec` closes its stdin right after
 * Start, and the daemon holds that call up to a second while stdin drains.
 */
const REPLAYABLE = new Set(
  ["State", "Pids", "Stats", "Wait", "Connect", "CloseIO", "ResizePty"].map((m) =>
    `containerd.task.v2.Task/${m}`
  ),
);

/** Unanswered calls one connection may have, and their bytes. */
export const MAX_PENDING = 1024;
const MAX_PENDING_BYTES = 16 << 20;

interface Pending {
  readonly frame: Uint8Array;
  readonly replay: boolean;
  /** `service/method`, for the log. */
  readonly call: string;
  /** A daemon received it (or may have). */
  sent: boolean;
}

/** Opens a connection to the current daemon for `tag`; null when there will be none. */
export type Dial = (tag: string) => Promise<Deno.Conn | null>;

function status(id: number, code: number, message: string): Uint8Array {
  return encodeFrame(
    id,
    MessageType.Response,
    0,
    encodeResponse({ status: { code, message, details: [] }, payload: new Uint8Array(0) }),
  );
}

export class Relay {
  readonly #client: Deno.Conn;
  readonly #tag: string;
  readonly #dial: Dial;
  readonly #log: Logger;
  readonly #pending = new Map<number, Pending>();
  #pendingBytes = 0;
  #backend: Deno.Conn | undefined;
  #toClient: Promise<void> = Promise.resolve();
  #toBackend: Promise<void> = Promise.resolve();
  #redialing = false;
  #closed = false;

  constructor(client: Deno.Conn, tag: string, dial: Dial, log: Logger) {
    this.#client = client;
    this.#tag = tag;
    this.#dial = dial;
    this.#log = log;
  }

  /** Calls sent and not yet answered, or waiting for a daemon. */
  get pending(): number {
    return this.#pending.size;
  }

  /** Relays until the client hangs up (or `close`). */
  async run(): Promise<void> {
    this.#redial();
    const reader = new FrameReader(this.#client);
    try {
      for (let ev = await reader.next(); ev !== null && !this.#closed; ev = await reader.next()) {
        this.#fromClient(ev);
        await this.#toBackend; // a daemon that reads slowly slows the client, not our memory
      }
    } catch (e) {
      if (!this.#closed) this.#log.debug("client connection failed", { tag: this.#tag, error: e });
    } finally {
      this.close();
    }
  }

  /** Drops both connections. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#pending.clear();
    this.#pendingBytes = 0;
    for (const c of [this.#client, this.#backend]) {
      try {
        c?.close();
      } catch {
        // closed already
      }
    }
    this.#backend = undefined;
  }

  #fromClient(ev: FrameEvent): void {
    const { streamId: id, type, flags } = ev.header;
    if (ev.kind === "oversized") {
      if (type === MessageType.Request) {
        this.#answer(
          status(id, Code.RESOURCE_EXHAUSTED, `Cannot accept a call of ${ev.header.length} bytes`),
        );
      }
      return;
    }
    const frame = encodeFrame(id, type, flags, ev.payload);
    if (type === MessageType.Request) {
      if (this.#pending.size >= MAX_PENDING || this.#pendingBytes + frame.length > MAX_PENDING_BYTES) {
        this.#answer(status(id, Code.RESOURCE_EXHAUSTED, "Cannot accept a call: too many are unanswered"));
        return;
      }
      let call = "?";
      try {
        const r = decodeRequest(ev.payload);
        call = `${r.service}/${r.method}`;
      } catch {
        // the daemon answers what it cannot decode
      }
      const p: Pending = { frame, replay: REPLAYABLE.has(call), call, sent: false };
      this.#pending.set(id, p);
      this.#pendingBytes += frame.length;
      if (this.#backend !== undefined) this.#send(this.#backend, p);
    } else if (this.#backend !== undefined) {
      // a stream's data: it reaches only the daemon that has the stream
      this.#write(this.#backend, frame);
    }
  }

  #forget(id: number): void {
    this.#pendingBytes -= this.#pending.get(id)?.frame.length ?? 0;
    this.#pending.delete(id);
  }

  #send(conn: Deno.Conn, p: Pending): void {
    p.sent = true;
    this.#write(conn, p.frame);
  }

  #write(conn: Deno.Conn, frame: Uint8Array): void {
    this.#toBackend = this.#toBackend.then(() => writeAll(conn, frame)).catch(() => this.#lost(conn));
  }

  #answer(frame: Uint8Array): void {
    this.#toClient = this.#toClient.then(() => writeAll(this.#client, frame)).catch(() => this.close());
  }

  /** Connects to the (next) daemon and sends it what is pending. */
  #redial(): void {
    if (this.#redialing || this.#closed) return;
    this.#redialing = true;
    void (async () => {
      const conn = await this.#dial(this.#tag).catch(() => null);
      this.#redialing = false;
      if (conn === null) {
        this.#log.warn("no daemon to relay to: closing the client's connection", { tag: this.#tag });
        return this.close();
      }
      if (this.#closed) return conn.close();
      // one synchronous pass: nothing arrives between choosing and queueing
      this.#backend = conn;
      let replayed = 0;
      const failed: string[] = [];
      for (const [id, p] of this.#pending) {
        if (p.sent && !p.replay) {
          this.#forget(id);
          failed.push(p.call);
          this.#answer(status(
            id,
            Code.UNAVAILABLE,
            "The Cocoon daemon restarted during this call: whether it took effect is unknown (look, then retry)",
          ));
        } else {
          if (p.sent) replayed++;
          this.#send(conn, p);
        }
      }
      if (replayed + failed.length > 0) {
        this.#log.info("calls carried over a daemon restart", { replayed, failed });
      }
      void this.#pump(conn);
    })();
  }

  async #pump(conn: Deno.Conn): Promise<void> {
    const reader = new FrameReader(conn);
    try {
      for (let ev = await reader.next(); ev !== null; ev = await reader.next()) {
        if (ev.kind === "oversized") continue; // the daemon never sends one
        const { streamId: id, type, flags } = ev.header;
        if (type === MessageType.Response) this.#forget(id);
        this.#answer(encodeFrame(id, type, flags, ev.payload));
        await this.#toClient; // a client that reads slowly slows the daemon's answers
      }
    } catch {
      // the daemon went away
    }
    this.#lost(conn);
  }

  #lost(conn: Deno.Conn): void {
    if (this.#backend !== conn) return;
    this.#backend = undefined;
    try {
      conn.close();
    } catch {
      // closed already
    }
    if (this.#closed) return;
    this.#log.info("daemon connection lost: holding the client's", {
      tag: this.#tag,
      pending: this.#pending.size,
    });
    this.#redial();
  }
}
