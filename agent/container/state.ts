/**
 * The agent's in-memory view of the containers and processes it started. Handles own their stdio
 * and learn their exit status from the reaper.
 *
 * @module
 */
import { RuntimeError } from "../../runtime/errors.ts";
import type { Terminal } from "../sys/console.ts";
import { exitCodeOf, type ExitStatus } from "../sys/reaper.ts";
import { ChunkReader, StdinWriter } from "./stdio.ts";

/** Stdio of a process as started: three pipes, or one terminal. */
export type ProcessStdio =
  | {
    readonly kind: "pipes";
    readonly stdin: WritableStream<Uint8Array> | null;
    readonly stdout: ReadableStream<Uint8Array> | null;
    readonly stderr: ReadableStream<Uint8Array> | null;
  }
  | { readonly kind: "terminal"; readonly terminal: Terminal };

/** One process in a container: the init process (execId "") or an exec. */
export class AgentProcess {
  readonly containerId: string;
  readonly execId: string;
  readonly pid: number;
  readonly stdin: StdinWriter | null;
  readonly stdout: ChunkReader | null;
  readonly stderr: ChunkReader | null;
  readonly exited: Promise<ExitStatus>;
  readonly #terminal: Terminal | null;
  #exit: ExitStatus | undefined;

  constructor(
    ids: { containerId: string; execId: string; pid: number },
    stdio: ProcessStdio,
    exited: Promise<ExitStatus>,
  ) {
    this.containerId = ids.containerId;
    this.execId = ids.execId;
    this.pid = ids.pid;
    if (stdio.kind === "terminal") {
      this.#terminal = stdio.terminal;
      this.stdin = new StdinWriter(stdio.terminal.writable, { terminal: true });
      this.stdout = new ChunkReader(stdio.terminal.readable);
      this.stderr = null;
    } else {
      this.#terminal = null;
      this.stdin = stdio.stdin ? new StdinWriter(stdio.stdin, { terminal: false }) : null;
      this.stdout = stdio.stdout ? new ChunkReader(stdio.stdout) : null;
      this.stderr = stdio.stderr ? new ChunkReader(stdio.stderr) : null;
    }
    this.exited = exited.then((s) => (this.#exit = s));
    this.exited.catch(() => {});
  }

  /** Exit status once the reaper has seen it. */
  get exitStatus(): ExitStatus | undefined {
    return this.#exit;
  }

  /** Shell-style exit code (128+signal), once exited. */
  get exitCode(): number | undefined {
    return this.#exit ? exitCodeOf(this.#exit) : undefined;
  }

  get terminal(): boolean {
    return this.#terminal !== null;
  }

  resize(rows: number, cols: number): void {
    if (!this.#terminal) {
      throw new RuntimeError(
        "FailedPrecondition",
        `Cannot resize process "${this.#name()}": it has no terminal`,
      );
    }
    this.#terminal.resize(rows, cols);
  }

  /** Drops stdio (pipes and terminal). Unread output is discarded. */
  release(): void {
    this.stdout?.cancel();
    this.stderr?.cancel();
    this.stdin?.close().catch(() => {});
    this.#terminal?.close();
  }

  #name(): string {
    return this.execId === "" ? this.containerId : `${this.containerId}/${this.execId}`;
  }
}

export type ContainerPhase = "created" | "running" | "paused" | "stopped";

/** One container created by the agent. */
export class AgentContainer {
  readonly id: string;
  readonly bundle: string;
  readonly init: AgentProcess;
  readonly execs = new Map<string, AgentProcess>();
  #started = false;
  #paused = false;

  constructor(id: string, bundle: string, init: AgentProcess) {
    this.id = id;
    this.bundle = bundle;
    this.init = init;
  }

  get phase(): ContainerPhase {
    if (this.init.exitStatus) return "stopped";
    if (this.#paused) return "paused";
    return this.#started ? "running" : "created";
  }

  markStarted(): void {
    this.#started = true;
  }

  markPaused(paused: boolean): void {
    this.#paused = paused;
  }

  /** The init process ("" or the container id) or an exec. */
  process(execId: string): AgentProcess {
    if (execId === "" || execId === this.id) return this.init;
    const p = this.execs.get(execId);
    if (!p) throw new RuntimeError("NotFound", `Cannot find process "${execId}" in container "${this.id}"`);
    return p;
  }
}

/** All containers of the sandbox, by id. */
export class ContainerTable {
  readonly #byId = new Map<string, AgentContainer>();
  readonly #exitChecks = new Set<(c: AgentContainer) => Promise<void>>();
  readonly #settled = new WeakMap<AgentContainer, Promise<void>>();

  /**
   * Registers a check that runs once when a container's init exits, before WaitProcess answers
   * (the OOM watcher's last look at the container's cgroup, so TaskOOM precedes TaskExit).
   */
  onInitExit(check: (c: AgentContainer) => Promise<void>): void {
    this.#exitChecks.add(check);
  }

  /** Resolves once `c`'s init exited and the exit checks ran (each bounded to 2 s). */
  settled(c: AgentContainer): Promise<void> {
    let p = this.#settled.get(c);
    if (p === undefined) {
      p = c.init.exited.then(async () => {
        await Promise.all([...this.#exitChecks].map((check) => {
          let timer: ReturnType<typeof setTimeout> | undefined;
          return Promise.race([
            check(c).catch(() => {}),
            new Promise<void>((r) => (timer = setTimeout(r, 2000))),
          ]).finally(() => clearTimeout(timer));
        }));
      }, () => {});
      this.#settled.set(c, p);
    }
    return p;
  }

  get(id: string): AgentContainer {
    const c = this.#byId.get(id);
    if (!c) throw new RuntimeError("NotFound", `Cannot find container "${id}"`);
    return c;
  }

  has(id: string): boolean {
    return this.#byId.has(id);
  }

  add(c: AgentContainer): void {
    if (this.#byId.has(c.id)) {
      throw new RuntimeError("AlreadyExists", `Cannot add container "${c.id}": it exists`);
    }
    this.#byId.set(c.id, c);
  }

  delete(id: string): void {
    this.#byId.delete(id);
  }

  list(): AgentContainer[] {
    return [...this.#byId.values()];
  }
}
