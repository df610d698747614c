/**
 * Spawning helper programs (crun/runc, ip, mount) behind a small interface so that unit tests can
 * use a recording fake. The real runner remembers the pids it spawned so the PID-1 orphan reaper
 * leaves them to Deno.
 *
 * @module
 */
import { RuntimeError } from "../../runtime/errors.ts";

export type StdioMode = "piped" | "null";

export interface SpawnOptions {
  readonly stdin?: StdioMode;
  readonly stdout?: StdioMode;
  readonly stderr?: StdioMode;
  readonly env?: Readonly<Record<string, string>>;
  readonly cwd?: string;
}

/** A spawned helper. Its stdio pipes may outlive it (a container process inherits them). */
export interface SpawnedCommand {
  readonly pid: number;
  readonly stdin: WritableStream<Uint8Array> | null;
  readonly stdout: ReadableStream<Uint8Array> | null;
  readonly stderr: ReadableStream<Uint8Array> | null;
  /** Exit code of the helper itself (128 + n when killed by signal n). */
  readonly status: Promise<number>;
}

export interface CommandRunner {
  spawn(argv: readonly string[], opts?: SpawnOptions): SpawnedCommand;
}

export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

const SIGNALS: Readonly<Record<string, number>> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGABRT: 6,
  SIGKILL: 9,
  SIGUSR1: 10,
  SIGSEGV: 11,
  SIGUSR2: 12,
  SIGPIPE: 13,
  SIGALRM: 14,
  SIGTERM: 15,
};

/** The real runner, on `Deno.Command`. */
export class DenoCommandRunner implements CommandRunner {
  readonly #live = new Set<number>();

  spawn(argv: readonly string[], opts: SpawnOptions = {}): SpawnedCommand {
    const [cmd, ...args] = argv;
    if (cmd === undefined) throw new RuntimeError("InvalidArgument", "Cannot run a command: argv is empty");
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(cmd, {
        args,
        stdin: opts.stdin ?? "null",
        stdout: opts.stdout ?? "null",
        stderr: opts.stderr ?? "null",
        ...(opts.env ? { env: { ...opts.env } } : {}),
        ...(opts.cwd ? { cwd: opts.cwd } : {}),
      }).spawn();
    } catch (e) {
      throw new RuntimeError(
        e instanceof Deno.errors.NotFound ? "NotFound" : "Internal",
        `Cannot run "${cmd}": ${e instanceof Error ? e.message : String(e)}`,
        { cause: e },
      );
    }
    const pid = child.pid;
    this.#live.add(pid);
    const status = child.status.then((s) => {
      this.#live.delete(pid);
      return s.signal ? 128 + (SIGNALS[s.signal] ?? 0) : s.code;
    });
    return {
      pid,
      stdin: opts.stdin === "piped" ? child.stdin : null,
      stdout: opts.stdout === "piped" ? child.stdout : null,
      stderr: opts.stderr === "piped" ? child.stderr : null,
      status,
    };
  }

  /** Pids spawned here that Deno has not reaped yet. */
  ownPids(): ReadonlySet<number> {
    return this.#live;
  }
}

/** Runs a command to completion, feeding `stdin` and collecting its output (bounded by `maxBytes`). */
export async function runToEnd(
  runner: CommandRunner,
  argv: readonly string[],
  opts: { stdin?: string | Uint8Array; signal?: AbortSignal; maxBytes?: number } = {},
): Promise<CommandResult> {
  const child = runner.spawn(argv, {
    stdin: opts.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  });
  if (child.stdin && opts.stdin !== undefined) {
    const w = child.stdin.getWriter();
    const data = typeof opts.stdin === "string" ? new TextEncoder().encode(opts.stdin) : opts.stdin;
    w.write(data).then(() => w.close()).catch(() => {});
  }
  const max = opts.maxBytes ?? 1 << 20;
  const [stdout, stderr, code] = await Promise.all([
    readAllText(child.stdout, max),
    readAllText(child.stderr, max),
    child.status,
  ]);
  return { code, stdout, stderr };
}

/** Reads a stream to its end as UTF-8, keeping at most `max` bytes. */
async function readAllText(s: ReadableStream<Uint8Array> | null, max = 1 << 20): Promise<string> {
  if (!s) return "";
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const c of s) {
    if (total < max) {
      const part = c.subarray(0, max - total);
      chunks.push(part);
      total += part.length;
    }
  }
  const out = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return new TextDecoder().decode(out);
}
