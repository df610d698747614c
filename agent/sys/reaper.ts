/**
 * Reaps the container processes the agent tracks, and only those.
 *
 * After `crun create` (or `crun exec --detach`) exits, the container process is orphaned and the
 * kernel reparents it to the nearest child subreaper: the agent (PID 1 in the guest, or a process
 * that called `prctl(PR_SET_CHILD_SUBREAPER)`). Its exit status then reaches only the agent.
 *
 * The reaper calls `waitpid(pid, WNOHANG)` for each pid it watches, never `waitpid(-1)`: Deno reaps
 * the children it spawned itself (crun, ip, mount) by pid, and a `waitpid(-1)` here would steal
 * their statuses. A check runs on every SIGCHLD and on a short poll (a missed or coalesced SIGCHLD
 * cannot lose an exit). Optionally (PID 1) it also reaps zombie orphans nobody tracks, skipping pids
 * that the command runner reports as its own.
 *
 * @module
 */
import { RuntimeError } from "../../runtime/errors.ts";
import type { Logger } from "../../runtime/log/logger.ts";
import { waitPidNoHang, type WaitResult } from "./libc.ts";

/** How a container process ended. */
export type ExitStatus =
  | { readonly kind: "exited"; readonly code: number }
  | { readonly kind: "signaled"; readonly signal: number };

/** The shell-style exit code: the code, or 128 + signal number (137 after SIGKILL). */
export function exitCodeOf(s: ExitStatus): number {
  return s.kind === "exited" ? s.code : 128 + s.signal;
}

/** Something that learns when a pid that was reparented to us exits. */
export interface ProcessWaiter {
  watch(pid: number): Promise<ExitStatus>;
}

export interface ReaperOptions {
  /** Poll period in ms (default 100). */
  readonly intervalMs?: number;
  /** Injected for tests; default is the FFI `waitpid(pid, WNOHANG)`. */
  readonly waitPid?: (pid: number) => WaitResult;
  /** Also reap untracked zombie children (the agent is PID 1): pids this returns are left alone. */
  readonly orphans?: { readonly ownPids: () => ReadonlySet<number>; readonly listZombies: () => number[] };
  readonly log?: Logger;
}

interface Watch {
  resolve(s: ExitStatus): void;
  reject(e: unknown): void;
}

/** Stateful reaper; `close()` stops the timer and the SIGCHLD listener. */
export class Reaper implements ProcessWaiter, Disposable {
  readonly #watches = new Map<number, Watch>();
  readonly #intervalMs: number;
  readonly #waitPid: (pid: number) => WaitResult;
  readonly #orphans: ReaperOptions["orphans"];
  readonly #log: Logger | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  #listening = false;
  #lastSweep = 0;
  /** Statuses of untracked orphans the sweep reaped, kept a while: a watch may arrive late. */
  readonly #reaped = new Map<number, { status: ExitStatus; at: number }>();
  readonly #onSignal = (): void => this.check();

  constructor(opts: ReaperOptions = {}) {
    this.#intervalMs = opts.intervalMs ?? 100;
    this.#waitPid = opts.waitPid ?? waitPidNoHang;
    this.#orphans = opts.orphans;
    this.#log = opts.log;
    if (this.#orphans) this.#arm();
  }

  /** Resolves with the exit status of `pid`, which must be (or become) our child. */
  watch(pid: number): Promise<ExitStatus> {
    if (this.#watches.has(pid)) {
      return Promise.reject(
        new RuntimeError("AlreadyExists", `Cannot watch pid ${pid}: it is already watched`),
      );
    }
    // A process that exited before anyone watched it (an exec that ends at once) may already
    // have been reaped by the orphan sweep: its status was kept for this.
    const early = this.#reaped.get(pid);
    if (early !== undefined) {
      this.#reaped.delete(pid);
      return Promise.resolve(early.status);
    }
    const { promise, resolve, reject } = Promise.withResolvers<ExitStatus>();
    this.#watches.set(pid, { resolve, reject });
    this.#arm();
    this.check();
    return promise;
  }

  /** Number of pids still watched. */
  get size(): number {
    return this.#watches.size;
  }

  /** One pass over the watched pids (also run on SIGCHLD and by the timer). */
  check(): void {
    for (const [pid, w] of [...this.#watches]) {
      let r: WaitResult;
      try {
        r = this.#waitPid(pid);
      } catch (e) {
        this.#watches.delete(pid);
        w.reject(e);
        continue;
      }
      if (r.kind === "running") continue;
      this.#watches.delete(pid);
      if (r.kind === "not-child") {
        w.reject(
          new RuntimeError("FailedPrecondition", `Cannot reap pid ${pid}: it is not a child of the agent`),
        );
      } else {
        w.resolve(r);
      }
    }
    if (this.#orphans && Date.now() - this.#lastSweep >= 1000) {
      this.#lastSweep = Date.now();
      this.#reapOrphans(this.#orphans);
    }
    if (this.#watches.size === 0 && !this.#orphans) this.#disarm();
    else if (this.#watches.size === 0 && this.#timer !== undefined) Deno.unrefTimer(this.#timer);
  }

  #reapOrphans(o: NonNullable<ReaperOptions["orphans"]>): void {
    let zombies: number[];
    try {
      zombies = o.listZombies();
    } catch {
      return;
    }
    const own = o.ownPids();
    const now = Date.now();
    for (const [pid, r] of this.#reaped) if (now - r.at > 60_000) this.#reaped.delete(pid);
    for (const pid of zombies) {
      if (this.#watches.has(pid) || own.has(pid)) continue;
      const r = this.#waitPid(pid);
      if (r.kind === "exited" || r.kind === "signaled") {
        this.#log?.debug("reaped orphan", { pid, status: r });
        if (this.#reaped.size < 4096) this.#reaped.set(pid, { status: r, at: now });
      }
    }
  }

  #arm(): void {
    if (this.#timer === undefined) this.#timer = setInterval(() => this.check(), this.#intervalMs);
    // A pending watch keeps the process alive; orphan sweeping alone does not.
    if (this.#watches.size > 0) Deno.refTimer(this.#timer);
    else Deno.unrefTimer(this.#timer);
    if (!this.#listening) {
      try {
        Deno.addSignalListener("SIGCHLD", this.#onSignal);
        this.#listening = true;
      } catch {
        // Polling alone still works.
      }
    }
  }

  #disarm(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    if (this.#listening) Deno.removeSignalListener("SIGCHLD", this.#onSignal);
    this.#listening = false;
  }

  close(): void {
    this.#disarm();
    for (const [pid, w] of this.#watches) {
      w.reject(new RuntimeError("Cancelled", `Cannot wait for pid ${pid}: the reaper was closed`));
    }
    this.#watches.clear();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** Zombie children of this process, from /proc (used when the agent is PID 1). */
export function listZombieChildren(self: number = Deno.pid): number[] {
  const out: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    let stat: string;
    try {
      stat = Deno.readTextFileSync(`/proc/${e.name}/stat`);
    } catch {
      continue;
    }
    const parsed = parseProcStat(stat);
    if (parsed && parsed.ppid === self && parsed.state === "Z") out.push(Number(e.name));
  }
  return out;
}

/** `state` and `ppid` from a /proc/<pid>/stat line (the comm field may hold spaces and parens). */
export function parseProcStat(line: string): { state: string; ppid: number } | null {
  const close = line.lastIndexOf(")");
  if (close < 0) return null;
  const rest = line.slice(close + 2).split(" ");
  const state = rest[0];
  const ppid = Number(rest[1]);
  if (state === undefined || !Number.isInteger(ppid)) return null;
  return { state, ppid };
}
