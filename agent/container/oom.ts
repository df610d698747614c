/**
 * OOM events: polls each running container's cgroup `memory.events` (v2 `oom_kill`) or v1
 * `memory.oom_control` (`oom_kill`) and queues the container id whenever the counter grows.
 * GetOOMEvent long-polls `next()`. Polling (default 500 ms) rather than inotify: cgroupfs change
 * events are not delivered on every kernel the guest or host may run.
 *
 * @module
 */
import { RuntimeError } from "../../runtime/errors.ts";
import type { ContainerEnv } from "./env.ts";
import { parseKeyValues, parseProcCgroup } from "./stats.ts";
import type { ContainerTable } from "./state.ts";

export class OomWatcher implements Disposable {
  readonly #env: ContainerEnv;
  readonly #table: ContainerTable;
  readonly #counts = new Map<string, number>();
  readonly #queue: string[] = [];
  readonly #waiters: ((id: string) => void)[] = [];
  readonly #timer: ReturnType<typeof setInterval>;

  constructor(env: ContainerEnv, table: ContainerTable, opts: { intervalMs?: number } = {}) {
    this.#env = env;
    this.#table = table;
    this.#timer = setInterval(() => void this.poll().catch(() => {}), opts.intervalMs ?? 500);
    Deno.unrefTimer(this.#timer);
  }

  /** The next container that had a process OOM-killed. */
  next(opts: { signal?: AbortSignal } = {}): Promise<string> {
    const queued = this.#queue.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    const { promise, resolve, reject } = Promise.withResolvers<string>();
    const waiter = (id: string) => {
      opts.signal?.removeEventListener("abort", onAbort);
      resolve(id);
    };
    const onAbort = () => {
      const i = this.#waiters.indexOf(waiter);
      if (i >= 0) this.#waiters.splice(i, 1);
      reject(new RuntimeError("Cancelled", "Cannot wait for an OOM event: cancelled"));
    };
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    this.#waiters.push(waiter);
    return promise;
  }

  /** One pass over the containers (public for tests). */
  async poll(): Promise<void> {
    for (const c of this.#table.list()) {
      if (c.init.exitStatus) continue;
      const n = await this.#oomKills(c.init.pid);
      if (n === undefined) continue;
      const before = this.#counts.get(c.id) ?? 0;
      this.#counts.set(c.id, n);
      if (n > before) this.#emit(c.id);
    }
  }

  #emit(id: string): void {
    this.#env.log.limited.warn("container OOM kill", { container: id });
    const w = this.#waiters.shift();
    if (w) w(id);
    else if (this.#queue.length < 1000) this.#queue.push(id);
  }

  async #oomKills(pid: number): Promise<number | undefined> {
    const read = (p: string) => this.#env.fs.readTextFile(p).catch(() => undefined);
    const cg = await read(`/proc/${pid}/cgroup`);
    if (cg === undefined) return undefined;
    const paths = parseProcCgroup(cg);
    const root = this.#env.cgroupRoot;
    const v2 = paths.get("");
    if (v2 !== undefined) {
      const ev = (await read(`${root}${v2}/memory.events`)) ??
        (await read(`${root}/unified${v2}/memory.events`));
      if (ev !== undefined) return parseKeyValues(ev)["oom_kill"] ?? 0;
    }
    const v1 = paths.get("memory");
    if (v1 !== undefined) {
      const ctl = await read(`${root}/memory${v1}/memory.oom_control`);
      if (ctl !== undefined) return parseKeyValues(ctl)["oom_kill"] ?? 0;
    }
    return undefined;
  }

  close(): void {
    clearInterval(this.#timer);
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
