/**
 * The supervisor's hold on task stdio FIFOs. A FIFO's reader sees end of file when its last writer
 * closes, so a daemon that dies would end every `ctr run`'s and CRI's log stream for good. The
 * supervisor therefore keeps its own end of each live task's FIFOs open (the output ones for
 * writing, stdin for reading) without ever using them: the FIFO outlives the daemon, and the next
 * daemon opens it again. The daemon releases a process's FIFOs once its output is done.
 *
 * @module
 */
import { closeFd, openFifo } from "../../sys/libc_fd.ts";
import type { Logger } from "../../log/logger.ts";

export interface HeldStdio {
  readonly stdin?: string;
  readonly stdout?: string;
  readonly stderr?: string;
}

/** Opens only FIFOs: a path that is anything else is left alone. */
async function openIfFifo(path: string | undefined, mode: "read" | "write"): Promise<number | null> {
  if (path === undefined || !path.startsWith("/")) return null;
  const st = await Deno.lstat(path).catch(() => null);
  if (st === null || !st.isFifo) return null;
  try {
    return openFifo(path, mode);
  } catch {
    return null;
  }
}

export class FdStore {
  readonly #fds = new Map<string, number[]>();
  readonly #log: Logger;

  constructor(log: Logger) {
    this.#log = log;
  }

  get size(): number {
    return this.#fds.size;
  }

  /** Holds the FIFOs of process `key` (again: no-op). */
  async hold(key: string, s: HeldStdio): Promise<void> {
    if (this.#fds.has(key)) return;
    const fds: number[] = [];
    for (const [p, mode] of [[s.stdout, "write"], [s.stderr, "write"], [s.stdin, "read"]] as const) {
      const fd = await openIfFifo(p, mode);
      if (fd !== null) fds.push(fd);
    }
    this.#fds.set(key, fds);
    this.#log.debug("stdio held", { key, fds: fds.length });
  }

  release(key: string): void {
    for (const fd of this.#fds.get(key) ?? []) closeFd(fd);
    this.#fds.delete(key);
  }

  /** Releases every key but `keep` (a restarted daemon names what it took over). */
  keepOnly(keep: ReadonlySet<string>): void {
    for (const key of [...this.#fds.keys()]) if (!keep.has(key)) this.release(key);
  }

  releaseAll(): void {
    for (const key of [...this.#fds.keys()]) this.release(key);
  }
}
