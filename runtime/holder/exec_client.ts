/**
 * The CLI end of an exec stream: host stdio (or a terminal) in, the process's output out, and its
 * exit status back. Used by `cocoon exec` in the foreground and by the detached relay `exec
 * --detach` leaves behind (whose pid the caller waits on).
 *
 * @module
 */
import type { Logger } from "../log/logger.ts";
import type { ConsoleSlave } from "../sys/console_socket.ts";
import { closeQuietly, type HolderConnection } from "./client.ts";
import { exitStatusOf } from "./handlers.ts";
import { encodeFrame, FRAME, jsonBytes, KILLED_STATUS, MAX_FRAME } from "./wire.ts";

export interface ExecStdio {
  readonly stdin: ReadableStream<Uint8Array> | null;
  readonly stdout: WritableStream<Uint8Array>;
  readonly stderr: WritableStream<Uint8Array>;
  /** The current window size of a terminal, polled and sent on change. */
  readonly windowSize?: () => { rows: number; cols: number } | null;
}

/** Terminal stdio from a console-socket slave. */
export function ttyStdio(tty: ConsoleSlave): ExecStdio {
  return {
    stdin: tty.stream.readable,
    stdout: tty.stream.writable,
    stderr: tty.stream.writable,
    windowSize: () => tty.windowSize(),
  };
}

/** What an exec stream from the holder carries back. */
export type HolderOutput =
  | { readonly kind: "stdout" | "stderr"; readonly data: Uint8Array }
  | { readonly kind: "exit"; readonly status: number };

/** The process's output frames, then its exit (137 when the stream ends without an EXIT frame). */
export async function* holderOutput(h: HolderConnection): AsyncGenerator<HolderOutput> {
  for (;;) {
    const f = await h.reader.readFrame().catch(() => null);
    if (f === null) {
      yield { kind: "exit", status: KILLED_STATUS };
      return;
    }
    if (f.type === FRAME.stdout) yield { kind: "stdout", data: f.payload };
    else if (f.type === FRAME.stderr) yield { kind: "stderr", data: f.payload };
    else if (f.type === FRAME.exit) {
      yield { kind: "exit", status: exitStatusOf(f.payload) };
      return;
    }
  }
}

/** Relays until the EXIT frame; returns the exit status (137 when the stream ends without one). */
export async function attachExec(h: HolderConnection, io: ExecStdio, log: Logger): Promise<number> {
  const w = h.conn.writable.getWriter();
  let broken = false;
  const send = async (type: (typeof FRAME)[keyof typeof FRAME], data?: Uint8Array) => {
    if (broken) return;
    try {
      await w.write(encodeFrame(type, data));
    } catch {
      broken = true; // the holder finished the stream
    }
  };
  const ac = new AbortController();
  if (io.stdin !== null) {
    void (async () => {
      try {
        const r = io.stdin!.getReader();
        ac.signal.addEventListener("abort", () => void r.cancel().catch(() => {}));
        for (;;) {
          const x = await r.read();
          if (x.done) break;
          for (let off = 0; off < x.value.length; off += MAX_FRAME) {
            await send(FRAME.stdin, x.value.subarray(off, off + MAX_FRAME));
          }
        }
      } catch (e) {
        log.debug("exec stdin ended", { error: e });
      }
      if (!ac.signal.aborted) await send(FRAME.stdinClose);
    })();
  } else {
    await send(FRAME.stdinClose);
  }
  let last = "";
  const sizes = io.windowSize === undefined ? undefined : setInterval(() => {
    const s = io.windowSize?.();
    if (s === null || s === undefined || s.rows === 0) return;
    const key = `${s.rows}x${s.cols}`;
    if (key !== last) {
      last = key;
      void send(FRAME.resize, jsonBytes(s));
    }
  }, 250);
  const out = io.stdout.getWriter();
  const err = io.stderr === io.stdout ? out : io.stderr.getWriter();
  try {
    for await (const x of holderOutput(h)) {
      if (x.kind === "exit") return x.status;
      await (x.kind === "stdout" ? out : err).write(x.data);
    }
    return KILLED_STATUS;
  } finally {
    if (sizes !== undefined) clearInterval(sizes);
    ac.abort();
    out.releaseLock();
    if (err !== out) err.releaseLock();
    closeQuietly(h.conn);
  }
}
