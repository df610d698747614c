/**
 * The one event source of a sandbox handle. Each process's exit is waited for once (one agent
 * WaitProcess per process, recorded in the store when it comes), the agent's OOM reports are read
 * by one loop while anyone listens, and the VM's exit is awaited once. `Sandbox.wait`, `waitExec`,
 * `waitVm` and `monitor` read it, so the daemon's task manager, the holder, the Sandbox API
 * controllers, the management API and the library all subscribe to the same source.
 *
 * @module
 */
import type { VmExit } from "../../plugins/types.ts";
import { containerId, execId } from "../ids.ts";
import {
  loadContainer,
  requireAgent,
  requireVm,
  type SandboxContext,
  saveContainer,
  saveSandbox,
  serialized,
} from "./_context.ts";
import { now } from "./status.ts";

/** How a process ended: `exitStatus` is the exit code, or 128 + the signal that ended it. */
export interface ExitInfo {
  readonly exitStatus: number;
  readonly exitedAt: string;
  readonly pid: number;
}

export type SandboxEvent =
  | {
    readonly kind: "exit";
    readonly containerId: string;
    readonly execId?: string;
    readonly exitStatus: number;
    readonly at: string;
  }
  | { readonly kind: "oom"; readonly containerId: string; readonly at: string }
  | { readonly kind: "vm-exit"; readonly exit: VmExit; readonly at: string }
  | { readonly kind: "error"; readonly message: string; readonly at: string };

export interface MonitorOptions {
  readonly signal?: AbortSignal;
  /** Report process exits (default true); without them only OOM kills, errors and the VM's exit. */
  readonly exits?: boolean;
}

type Listener = (e: SandboxEvent) => void;

/**
 * Waits for a process's exit through the agent and records it; `fresh` is false when the record
 * already said how it ended (nothing is waited for then).
 */
async function waitOnce(
  ctx: SandboxContext,
  id: string,
  exec: string | undefined,
): Promise<{ exit: ExitInfo; fresh: boolean }> {
  const cid = containerId(id);
  const eid = exec === undefined ? undefined : execId(exec);
  const c0 = await loadContainer(ctx, cid);
  const known = eid === undefined ? c0.status : c0.execs[eid]?.status;
  if ((known?.kind === "stopped" || known?.kind === "exited") && known.exitStatus !== null) {
    return { exit: { exitStatus: known.exitStatus, exitedAt: known.exitedAt, pid: known.pid }, fresh: false };
  }
  const what = eid === undefined ? `container "${cid}"` : `process "${eid}" of container "${cid}"`;
  const agent = requireAgent(ctx, `wait for ${what}`, true);
  const x = await agent.waitProcess(
    eid === undefined ? { containerId: cid } : { containerId: cid, execId: eid },
  );
  const exit = { exitStatus: x.exitStatus, exitedAt: (x.exitedAt ?? new Date()).toISOString(), pid: x.pid };
  await serialized(ctx, async () => {
    const c = await loadContainer(ctx, cid);
    const e = eid === undefined ? undefined : c.execs[eid];
    if (eid === undefined && c.status.kind !== "stopped") {
      await saveContainer(ctx, { ...c, status: { kind: "stopped", ...exit } });
    } else if (eid !== undefined && e !== undefined) {
      await saveContainer(ctx, {
        ...c,
        execs: { ...c.execs, [eid]: { ...e, status: { kind: "exited", ...exit } } },
      });
    }
  });
  if (eid === undefined) ctx.log.info("container exited", { container: cid, exitStatus: exit.exitStatus });
  return { exit, fresh: true };
}

/** Resolves with `p`, or rejects when `signal` aborts first (`p` goes on for its other waiters). */
function abortable<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return p;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

export class SandboxEvents {
  readonly #ctx: SandboxContext;
  readonly #exits = new Map<string, Promise<ExitInfo>>();
  readonly #listeners = new Set<Listener>();
  #vm: Promise<VmExit> | undefined;
  /** Ends the OOM loop and the start hook when the last listener goes. */
  #listening: AbortController | undefined;

  constructor(ctx: SandboxContext) {
    this.#ctx = ctx;
  }

  #emit(e: SandboxEvent): void {
    for (const l of this.#listeners) l(e);
  }

  /** The exit of a container's init (`eid` undefined) or of an exec'd process, waited for once. */
  exit(cid: string, eid: string | undefined, signal?: AbortSignal): Promise<ExitInfo> {
    const key = `${cid}\0${eid ?? ""}`;
    let p = this.#exits.get(key);
    if (p === undefined) {
      const once = waitOnce(this.#ctx, cid, eid);
      p = once.then((w) => w.exit);
      this.#exits.set(key, p);
      once.then(
        (w) => {
          if (!w.fresh) return;
          this.#emit({
            kind: "exit",
            containerId: cid,
            ...(eid !== undefined ? { execId: eid } : {}),
            exitStatus: w.exit.exitStatus,
            at: w.exit.exitedAt,
          });
        },
        (e) => {
          if (this.#ctx.released) return;
          this.#emit({ kind: "error", message: e instanceof Error ? e.message : String(e), at: now() });
        },
      ).finally(() => {
        // later waits read the record, which says how it ended
        if (this.#exits.get(key) === p) this.#exits.delete(key);
      });
    }
    return abortable(p, signal);
  }

  /** The VM's exit, awaited once. @throws when the handle has no VM. */
  vmExit(): Promise<VmExit> {
    if (this.#vm === undefined) {
      const vm = requireVm(this.#ctx, "wait for");
      this.#vm = vm.wait();
      this.#vm.then((exit) => this.#emit({ kind: "vm-exit", exit, at: now() }), () => {});
    }
    return this.#vm;
  }

  /**
   * Every event from now on as an async iterable, until the VM exits or `signal` aborts. While
   * anyone listens, every running process is waited for (and each that starts later), and OOM
   * reports are read.
   */
  async *monitor(opts: MonitorOptions = {}): AsyncGenerator<SandboxEvent> {
    const queue: SandboxEvent[] = [];
    let wake: (() => void) | undefined;
    let done = opts.signal?.aborted === true;
    const onAbort = () => {
      done = true;
      wake?.();
    };
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    const fn: Listener = (e) => {
      if (e.kind === "exit" && opts.exits === false) return;
      queue.push(e);
      wake?.();
    };
    this.#listeners.add(fn);
    if (this.#listening === undefined) await this.#listen();
    try {
      while (true) {
        const e = queue.shift();
        if (e !== undefined) {
          yield e;
          if (e.kind === "vm-exit") return;
          continue;
        }
        if (done) return;
        await new Promise<void>((r) => (wake = r));
        wake = undefined;
      }
    } finally {
      this.#listeners.delete(fn);
      if (this.#listeners.size === 0) {
        this.#listening?.abort();
        this.#listening = undefined;
      }
      opts.signal?.removeEventListener("abort", onAbort);
    }
  }

  async #listen(): Promise<void> {
    const ctx = this.#ctx;
    const stop = new AbortController();
    this.#listening = stop;
    const started = (cid: string, eid?: string) => void this.exit(cid, eid).catch(() => {});
    ctx.onStart.add(started);
    stop.signal.addEventListener("abort", () => ctx.onStart.delete(started), { once: true });
    for (const c of await ctx.rt.repo.listContainers(ctx.record.id)) {
      if (c.status.kind === "running" || c.status.kind === "paused") started(c.id);
      for (const e of Object.values(c.execs)) if (e.status.kind === "running") started(c.id, e.id);
    }
    const agent = ctx.agent;
    if (agent !== undefined) {
      void (async () => {
        while (!stop.signal.aborted && !agent.closed) {
          try {
            const containerId = await agent.nextOomEvent({ signal: stop.signal });
            this.#emit({ kind: "oom", containerId, at: now() });
          } catch {
            return; // stopped, or the agent went away (the VM exit says why)
          }
        }
      })();
    }
    if (ctx.vm !== undefined) void this.vmExit().catch(() => {});
  }
}

const hubs = new WeakMap<SandboxContext, SandboxEvents>();

/** The event source of a handle. */
export function eventsOf(ctx: SandboxContext): SandboxEvents {
  let h = hubs.get(ctx);
  if (h === undefined) hubs.set(ctx, h = new SandboxEvents(ctx));
  return h;
}

/**
 * Records the sandbox stopped and every live container stopped with an unknown status: the VM
 * is gone (`vm gone`) or was stopped (`stopped`).
 */
export async function markStopped(ctx: SandboxContext, reason: "vm gone" | "stopped"): Promise<void> {
  await saveSandbox(ctx, { ...ctx.record, status: { kind: "stopped", stoppedAt: now(), reason } });
  let marked = 0;
  for (const c of await ctx.rt.repo.listContainers(ctx.record.id)) {
    if (c.status.kind === "stopped" || c.status.kind === "creating") continue;
    await saveContainer(ctx, {
      ...c,
      status: { kind: "stopped", pid: c.status.pid, exitStatus: null, exitedAt: now() },
    });
    marked++;
  }
  const why = reason === "vm gone" ? "the VM is gone" : "the sandbox was stopped";
  if (marked > 0) ctx.log.warn("containers marked stopped", { reason: why, containers: marked });
}
