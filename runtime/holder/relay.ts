/**
 * Relays between a process in the guest (its `ProcessIo` streams) and host-side stdio: plain
 * streams (the holder's inherited fds 0/1/2) or a terminal slave whose master went to a console
 * socket. Output pumps are tracked so the holder can flush them before it reports an exit.
 *
 * @module
 */
import type { Logger } from "../log/logger.ts";
import type { ProcessIo } from "../sandbox/mod.ts";
import type { ConsoleSlave } from "../sys/console_socket.ts";

export interface HostStdio {
  readonly stdin: ReadableStream<Uint8Array> | null;
  readonly stdout: WritableStream<Uint8Array>;
  readonly stderr: WritableStream<Uint8Array>;
}

export interface Relay {
  /** Resolves when the process's output has been written out (or failed). */
  readonly drained: Promise<void>;
  stop(): void;
}

/** Pipes without closing the destination, logging (not throwing) failures. */
function pump(
  from: ReadableStream<Uint8Array>,
  to: WritableStream<Uint8Array>,
  log: Logger,
  what: string,
  opts: { close?: boolean; signal?: AbortSignal } = {},
): Promise<void> {
  return from.pipeTo(to, {
    preventClose: opts.close !== true,
    preventAbort: true,
    preventCancel: false,
    ...(opts.signal ? { signal: opts.signal } : {}),
  }).catch((e) => log.debug("relay ended", { what, error: e }));
}

/** Plain stdio: stdout and stderr out, stdin in (its end becomes the process's stdin EOF). */
export function relayStreams(io: ProcessIo, host: HostStdio, log: Logger): Relay {
  const ac = new AbortController();
  const out = pump(io.stdout, host.stdout, log, "stdout");
  const err = pump(io.stderr, host.stderr, log, "stderr");
  if (host.stdin !== null) void pump(host.stdin, io.stdin, log, "stdin", { close: true, signal: ac.signal });
  else void io.stdin.close().catch(() => {});
  return {
    drained: Promise.all([out, err]).then(() => {}),
    stop: () => ac.abort(),
  };
}

/**
 * A terminal: guest output to the slave, slave input to the guest; the window size the master's
 * owner sets is polled and passed on (the slave is not this process's controlling terminal, so no
 * SIGWINCH arrives).
 */
export function relayTerminal(io: ProcessIo, tty: ConsoleSlave, log: Logger): Relay {
  const ac = new AbortController();
  const out = pump(io.stdout, tty.stream.writable, log, "tty out");
  void io.stderr.cancel().catch(() => {});
  void pump(tty.stream.readable, io.stdin, log, "tty in", { close: true, signal: ac.signal });
  let last = "";
  const poll = async () => {
    try {
      const s = tty.windowSize();
      const key = `${s.rows}x${s.cols}`;
      if (key !== last && s.rows > 0 && s.cols > 0) {
        last = key;
        await io.resize({ rows: s.rows, columns: s.cols });
      }
    } catch (e) {
      log.debug("tty resize failed", { error: e });
    }
  };
  void poll();
  const timer = setInterval(poll, 250);
  return {
    drained: out,
    stop: () => {
      clearInterval(timer);
      ac.abort();
    },
  };
}

/** Waits for `p`, at most `ms`. */
export function atMost(p: Promise<unknown>, ms: number): Promise<void> {
  let t: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    p.then(() => {}),
    new Promise<void>((r) => (t = setTimeout(r, ms))),
  ]).finally(() => clearTimeout(t));
}
