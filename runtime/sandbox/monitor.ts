/**
 * monitor(): the sandbox's events as an async iterable: process exits (container inits and execs,
 * each recorded in the store as it happens), OOM kills reported by the agent, and the VM's exit.
 * Ends when the VM exits or `signal` aborts. With `exits: false` only OOM kills and the VM's exit are
 * reported (a caller that waits for exits itself, like the daemon, adds no second waiter).
 *
 * @module
 */
import type { VmExit } from "../../plugins/types.ts";
import type { SandboxContext } from "./_context.ts";
import { waitContainer, waitExec } from "./wait.ts";

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
  /** Report process exits (default true). */
  readonly exits?: boolean;
}

export async function* monitorSandbox(
  ctx: SandboxContext,
  opts: MonitorOptions = {},
): AsyncGenerator<SandboxEvent> {
  const queue: SandboxEvent[] = [];
  let wake: (() => void) | undefined;
  let done = false;
  const push = (e: SandboxEvent) => {
    queue.push(e);
    wake?.();
  };
  const stop = new AbortController();
  const onAbort = () => {
    done = true;
    stop.abort();
    wake?.();
  };
  opts.signal?.addEventListener("abort", onAbort, { once: true });
  const sig = { signal: stop.signal };
  const watching = new Set<string>();
  const watch = (cid: string, eid?: string) => {
    const key = `${cid}/${eid ?? ""}`;
    if (watching.has(key)) return;
    watching.add(key);
    const p = eid === undefined ? waitContainer(ctx, cid, sig) : waitExec(ctx, cid, eid, sig);
    p.then(
      (x) =>
        push({
          kind: "exit",
          containerId: cid,
          ...(eid !== undefined ? { execId: eid } : {}),
          exitStatus: x.exitStatus,
          at: x.exitedAt,
        }),
      (e) => {
        if (!stop.signal.aborted) {
          push({
            kind: "error",
            message: e instanceof Error ? e.message : String(e),
            at: new Date().toISOString(),
          });
        }
      },
    ).finally(() => watching.delete(key));
  };
  const exits = opts.exits !== false;
  if (exits) ctx.onStart.add(watch);
  try {
    for (const c of exits ? await ctx.rt.repo.listContainers(ctx.record.id) : []) {
      if (c.status.kind === "running" || c.status.kind === "paused") watch(c.id);
      for (const e of Object.values(c.execs)) if (e.status.kind === "running") watch(c.id, e.id);
    }
    const agent = ctx.agent;
    if (agent !== undefined) {
      void (async () => {
        while (!stop.signal.aborted && !agent.closed) {
          try {
            push({ kind: "oom", containerId: await agent.nextOomEvent(sig), at: new Date().toISOString() });
          } catch {
            return; // aborted, or the agent went away (the VM exit says why)
          }
        }
      })();
    }
    ctx.vm?.wait().then((exit) => {
      push({ kind: "vm-exit", exit, at: new Date().toISOString() });
      done = true;
    }, () => {});
    while (true) {
      const e = queue.shift();
      if (e !== undefined) {
        yield e;
        continue;
      }
      if (done) return;
      await new Promise<void>((r) => (wake = r));
      wake = undefined;
    }
  } finally {
    ctx.onStart.delete(watch);
    opts.signal?.removeEventListener("abort", onAbort);
    stop.abort();
  }
}
