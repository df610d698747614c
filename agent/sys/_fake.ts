/**
 * Recording fakes for unit tests: a command runner that records argv and answers from a script, a
 * waiter whose exits the test triggers, an in-memory file system, and a console provider.
 *
 * @module
 */
import { createLogger, nullSink } from "../../runtime/log/logger.ts";
import type { AgentFs, ContainerEnv, OciRuntime } from "../container/env.ts";
import type { CommandRunner, SpawnedCommand, SpawnOptions } from "./command.ts";
import type { ConsoleListener, ConsoleProvider, Terminal } from "./console.ts";
import type { ExitStatus, ProcessWaiter } from "./reaper.ts";

export interface FakeReply {
  readonly code?: number;
  readonly stdout?: string;
  readonly stderr?: string;
  /** Runs when the command is spawned (e.g. to write a pid file). */
  readonly effect?: () => void;
}

const enc = new TextEncoder();

function textStream(s: string): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(c) {
      if (s !== "") c.enqueue(enc.encode(s));
      c.close();
    },
  });
}

/** Records every spawn; replies come from `reply(argv)`. */
export class FakeRunner implements CommandRunner {
  readonly calls: { argv: string[]; opts: SpawnOptions }[] = [];
  readonly stdinWrites: string[] = [];
  #nextPid = 1000;
  readonly #reply: (argv: readonly string[]) => FakeReply;

  constructor(reply: (argv: readonly string[]) => FakeReply = () => ({})) {
    this.#reply = reply;
  }

  spawn(argv: readonly string[], opts: SpawnOptions = {}): SpawnedCommand {
    this.calls.push({ argv: [...argv], opts });
    const r = this.#reply(argv);
    r.effect?.();
    const dec = new TextDecoder();
    return {
      pid: this.#nextPid++,
      stdin: opts.stdin === "piped"
        ? new WritableStream({ write: (c) => void this.stdinWrites.push(dec.decode(c)) })
        : null,
      stdout: opts.stdout === "piped" ? textStream(r.stdout ?? "") : null,
      stderr: opts.stderr === "piped" ? textStream(r.stderr ?? "") : null,
      status: Promise.resolve(r.code ?? 0),
    };
  }

  /** argv of every call, joined by spaces. */
  commands(): string[] {
    return this.calls.map((c) => c.argv.join(" "));
  }
}

/** Exits are delivered by the test with `exit(pid, status)`. */
export class FakeWaiter implements ProcessWaiter {
  readonly #pending = new Map<number, PromiseWithResolvers<ExitStatus>>();

  watch(pid: number): Promise<ExitStatus> {
    const p = Promise.withResolvers<ExitStatus>();
    this.#pending.set(pid, p);
    return p.promise;
  }

  exit(pid: number, s: ExitStatus): void {
    this.#pending.get(pid)?.resolve(s);
    this.#pending.delete(pid);
  }

  get watched(): number[] {
    return [...this.#pending.keys()];
  }
}

export class MemoryFs implements AgentFs {
  readonly files = new Map<string, string>();
  readTextFile(p: string): Promise<string> {
    const v = this.files.get(p);
    return v === undefined ? Promise.reject(new Deno.errors.NotFound(p)) : Promise.resolve(v);
  }
  writeTextFile(p: string, d: string): Promise<void> {
    this.files.set(p, d);
    return Promise.resolve();
  }
  writeExisting(p: string, d: string): Promise<void> {
    this.files.set(p, d);
    return Promise.resolve();
  }
  remove(p: string): Promise<void> {
    this.files.delete(p);
    return Promise.resolve();
  }
}

/** A terminal backed by memory: what the "process" writes is queued with `output()`. */
export class FakeTerminal implements Terminal {
  readonly written: string[] = [];
  readonly sizes: { rows: number; cols: number }[] = [];
  readonly #ctrl: ReadableStreamDefaultController<Uint8Array>[] = [];
  readonly readable = new ReadableStream<Uint8Array>({ start: (c) => void this.#ctrl.push(c) });
  readonly writable = new WritableStream<Uint8Array>({
    write: (c) => void this.written.push(new TextDecoder().decode(c)),
  });
  closed = false;
  output(s: string): void {
    this.#ctrl[0]?.enqueue(enc.encode(s));
  }
  resize(rows: number, cols: number): void {
    this.sizes.push({ rows, cols });
  }
  close(): void {
    this.closed = true;
  }
}

export class FakeConsoles implements ConsoleProvider {
  readonly terminals: FakeTerminal[] = [];
  readonly listened: string[] = [];
  listen(path: string): ConsoleListener {
    this.listened.push(path);
    return {
      path,
      accept: () => {
        const t = new FakeTerminal();
        this.terminals.push(t);
        return Promise.resolve(t);
      },
      close: () => {},
    };
  }
}

export interface FakeEnv extends ContainerEnv {
  readonly runner: FakeRunner;
  readonly waiter: FakeWaiter;
  readonly fs: MemoryFs;
  readonly consoles: FakeConsoles;
  readonly signals: { pid: number; signal: number }[];
}

/** A complete fake environment; pid files are written by the fake runner for create/exec. */
export function fakeEnv(
  opts: { reply?: (argv: readonly string[]) => FakeReply; runtime?: OciRuntime } = {},
): FakeEnv {
  const fs = new MemoryFs();
  let pid = 4000;
  const runner = new FakeRunner((argv) => {
    const custom = opts.reply?.(argv);
    if (custom) return custom;
    const i = argv.indexOf("--pid-file");
    const file = i >= 0 ? argv[i + 1] : undefined;
    return file ? { effect: () => fs.files.set(file, String(++pid)) } : {};
  });
  const signals: { pid: number; signal: number }[] = [];
  return {
    runtime: opts.runtime ?? { kind: "crun", argv: ["crun"], root: "/run/crun" },
    runner,
    waiter: new FakeWaiter(),
    consoles: new FakeConsoles(),
    fs,
    signal: (p, s) => {
      signals.push({ pid: p, signal: s });
      return true;
    },
    signals,
    stateDir: "/state",
    cgroupRoot: "/sys/fs/cgroup",
    log: createLogger({ sink: nullSink }),
  };
}
