/**
 * monitor(): the sandbox's events as an async iterable, a subscription to the handle's one event
 * source (events.ts): process exits (container inits and execs, each recorded in the store as it
 * happens), OOM kills reported by the agent, and the VM's exit. Ends when the VM exits or `signal`
 * aborts. With `exits: false` only OOM kills, errors and the VM's exit are reported.
 *
 * @module
 */
import type { SandboxContext } from "./_context.ts";
import { eventsOf, type SandboxEvent } from "./events.ts";

export type { SandboxEvent } from "./events.ts";

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
  let done = opts.signal?.aborted === true;
  const exits = opts.exits !== false;
  const onAbort = () => {
    done = true;
    wake?.();
  };
  opts.signal?.addEventListener("abort", onAbort, { once: true });
  const off = await eventsOf(ctx).subscribe((e) => {
    if (e.kind === "exit" && !exits) return;
    queue.push(e);
    wake?.();
  });
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
    off();
    opts.signal?.removeEventListener("abort", onAbort);
  }
}
