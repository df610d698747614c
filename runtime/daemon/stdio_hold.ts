/**
 * Which processes' stdio FIFOs the daemon's supervisor holds open for it (supervisor/fd_store.ts),
 * so that a daemon restart ends no reader's stream: held while the daemon copies a process's
 * stdio, released once its output is done or the task goes.
 *
 * @module
 */
import type { Logger } from "../log/logger.ts";
import type { TaskStdio } from "./stdio.ts";

/** What holds the FIFOs (the supervisor link). */
export interface StdioKeeper {
  hold(key: string, stdio: { stdin?: string; stdout?: string; stderr?: string }): Promise<void>;
  release(key: string): Promise<void>;
}

export class StdioHolds {
  readonly #keeper: StdioKeeper | undefined;
  readonly #log: Logger;
  readonly #keys = new Set<string>();

  constructor(keeper: StdioKeeper | undefined, log: Logger) {
    this.#keeper = keeper;
    this.#log = log;
  }

  /** The processes held now. */
  keys(): string[] {
    return [...this.#keys];
  }

  hold(key: string, s: TaskStdio): void {
    if (this.#keeper === undefined) return;
    const fifo = (p: string) => p.startsWith("/") ? p : undefined;
    const paths = { stdin: fifo(s.stdin), stdout: fifo(s.stdout), stderr: fifo(s.stderr) };
    if (Object.values(paths).every((p) => p === undefined)) return;
    this.#keys.add(key);
    const defined = Object.fromEntries(Object.entries(paths).filter(([, p]) => p !== undefined));
    this.#keeper.hold(key, defined).catch((e) => this.#log.warn("stdio not held", { key, error: e }));
  }

  release(key: string): void {
    if (!this.#keys.delete(key)) return;
    this.#keeper?.release(key).catch((e) => this.#log.warn("stdio not released", { key, error: e }));
  }
}
