/**
 * The debug console: with `agent.debug_console` on the kernel command line (the host's
 * `[agent] debug_console_enabled = true`), a root shell on the virtio-serial port `cocoon.debug`,
 * whose host side is the socket `cocoon exec-guest` connects to.
 *
 * The shell starts when a connected host sends its first bytes, with its stdin, stdout and stderr
 * piped to and from the port (no terminal: busybox `sh -i` prompts and reads lines). When the host
 * disconnects (a read of 0 bytes) the shell is killed; when the shell exits, the next bytes from
 * the host start a new one. The shell is spawned through the agent's command runner, so the PID-1
 * orphan reaper leaves it to Deno.
 *
 * @module
 */
import type { Logger } from "../runtime/log/logger.ts";
import { findSerialPort } from "./channel.ts";
import type { CommandRunner } from "./sys/command.ts";
import { FdDuplex } from "./sys/fd_duplex.ts";

/** The port's name (the host's QEMU args name it the same: plugins/hypervisor/qemu/args/console.ts). */
const DEBUG_PORT = "cocoon.debug";

export interface DebugConsoleOptions {
  readonly log: Logger;
  readonly runner: CommandRunner;
  /** Sends a signal to a pid (the shell, when the host goes away). */
  readonly kill: (pid: number, signal: number) => boolean;
  readonly shell?: readonly string[];
  readonly signal?: AbortSignal;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const enc = new TextEncoder();

/** Serves the debug console until `signal` aborts; returns at once when the port does not exist. */
export async function serveDebugConsole(opts: DebugConsoleOptions): Promise<void> {
  let path: string | undefined;
  for (let i = 0; i < 20 && path === undefined; i++) {
    path = await findSerialPort(DEBUG_PORT).catch(() => undefined);
    if (path === undefined) await sleep(500);
  }
  if (path === undefined) {
    opts.log.warn("debug console port not found: no debug console", { port: DEBUG_PORT });
    return;
  }
  const port = FdDuplex.open(path);
  opts.signal?.addEventListener("abort", () => port.close(), { once: true });
  opts.log.warn("debug console enabled: a root shell answers on the debug port", { path });
  const buf = new Uint8Array(4096);
  while (!opts.signal?.aborted) {
    const n = await port.read(buf).catch(() => null);
    if (n === null) {
      await sleep(200); // no host connected
      continue;
    }
    await session(port, buf.slice(0, n), opts).catch((e) =>
      opts.log.warn("debug console failed", { error: e })
    );
  }
  port.close();
}

async function session(port: FdDuplex, first: Uint8Array, opts: DebugConsoleOptions): Promise<void> {
  const child = opts.runner.spawn(opts.shell ?? ["/bin/sh", "-i"], {
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    env: { TERM: "dumb", HOME: "/root", PS1: "cocoon-guest# ", PATH: "/usr/sbin:/usr/bin:/sbin:/bin" },
  });
  opts.log.info("debug console shell started", { pid: child.pid });
  const write = async (p: Uint8Array) => {
    let off = 0;
    while (off < p.length) off += await port.write(p.subarray(off));
  };
  const pump = async (s: ReadableStream<Uint8Array> | null) => {
    if (s === null) return;
    try {
      for await (const chunk of s) await write(chunk);
    } catch {
      // the host went away or the shell ended
    }
  };
  const output = Promise.all([pump(child.stdout), pump(child.stderr)]);
  const stdin = child.stdin?.getWriter();
  let ended = false;
  const input = (async () => {
    try {
      await stdin?.write(first);
      const buf = new Uint8Array(4096);
      while (!ended) {
        const n = await port.read(buf);
        if (n === null) break; // the host disconnected
        await stdin?.write(buf.slice(0, n));
      }
    } catch {
      // the shell closed its stdin
    }
    if (!ended) opts.kill(child.pid, 9);
  })();
  const status = await child.status;
  ended = true;
  await output;
  await stdin?.close().catch(() => {});
  await write(enc.encode(`\n[debug shell exited with status ${status}]\n`)).catch(() => {});
  opts.log.info("debug console shell ended", { pid: child.pid, status });
  await input;
}
