/**
 * OOM events: polls each running container's cgroup `memory.events` (v2 `oom_kill`) or v1
 * `memory.oom_control` (`oom_kill`) and queues the container id whenever the counter grows.
 * GetOOMEvent long-polls `next()`. Polling (default 500 ms) rather than inotify: cgroupfs change
 * events are not delivered on every kernel the guest or host may run.
 *
 * The counter file's path is remembered per container while its init lives, so that when the init
 * itself is the one killed (its /proc entry gone) the table's exit check still reads the counter:
 * the OOM event is queued before WaitProcess reports the exit (containerd's order: oom, then exit).
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
  /** Container id → its counter file (v2 memory.events or v1 memory.oom_control). */
  readonly #files = new Map<string, string>();
  readonly #queue: string[] = [];
  readonly #waiters: ((id: string) => void)[] = [];
  readonly #timer: ReturnType<typeof setInterval>;

  constructor(env: ContainerEnv, table: ContainerTable, opts: { intervalMs?: number } = {}) {
    this.#env = env;
    this.#table = table;
    this.#timer = setInterval(() => void this.poll().catch(() => {}), opts.intervalMs ?? 500);
    Deno.unrefTimer(this.#timer);
    table.onInitExit((c) => this.#check(c.id, c.init.pid));
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
    const live = new Set<string>();
    for (const c of this.#table.list()) {
      live.add(c.id);
      if (c.init.exitStatus) continue;
      await this.#check(c.id, c.init.pid);
    }
    for (const id of [...this.#files.keys()]) {
      if (!live.has(id)) {
        this.#files.delete(id);
        this.#counts.delete(id);
      }
    }
  }

  async #check(id: string, pid: number): Promise<void> {
    const file = (await this.#counterFile(pid)) ?? this.#files.get(id);
    if (file === undefined) return;
    this.#files.set(id, file);
    const text = await this.#env.fs.readTextFile(file).catch(() => undefined);
    if (text === undefined) return;
    const n = parseKeyValues(text)["oom_kill"] ?? 0;
    const before = this.#counts.get(id) ?? 0;
    this.#counts.set(id, n);
    if (n > before) this.#emit(id);
  }

  #emit(id: string): void {
    this.#env.log.limited.warn("container OOM kill", { container: id });
    const w = this.#waiters.shift();
    if (w) w(id);
    else if (this.#queue.length < 1000) this.#queue.push(id);
  }

  /** The OOM counter file of `pid`'s cgroup, when it can be read. */
  async #counterFile(pid: number): Promise<string | undefined> {
    const exists = (p: string) => this.#env.fs.readTextFile(p).then(() => true, () => false);
    const cg = await this.#env.fs.readTextFile(`/proc/${pid}/cgroup`).catch(() => undefined);
    if (cg === undefined) return undefined;
    const paths = parseProcCgroup(cg);
    const root = this.#env.cgroupRoot;
    const v2 = paths.get("");
    if (v2 !== undefined) {
      for (const f of [`${root}${v2}/memory.events`, `${root}/unified${v2}/memory.events`]) {
        if (await exists(f)) return f;
      }
    }
    const v1 = paths.get("memory");
    if (v1 !== undefined && await exists(`${root}/memory${v1}/memory.oom_control`)) {
      return `${root}/memory${v1}/memory.oom_control`;
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
