/**
 * Waiting for exits: a container's init (running -> stopped, persisted) or an exec'd process, through
 * the handle's one event source (events.ts: each process is waited for once, whoever asks). The
 * status is exact: the exit code, or 128 + the signal that ended it.
 *
 * @module
 */
import { type SandboxContext, saveContainer } from "./_context.ts";
import { eventsOf, type ExitInfo } from "./events.ts";
import { now } from "./status.ts";

export type { ExitInfo } from "./events.ts";

/** Waits for the container's init process to exit and records it. Returns at once if it has. */
export function waitContainer(
  ctx: SandboxContext,
  id: string,
  opts: { signal?: AbortSignal } = {},
): Promise<ExitInfo> {
  return eventsOf(ctx).exit(id, undefined, opts.signal);
}

/** Waits for an exec'd process to exit and records it. */
export function waitExec(
  ctx: SandboxContext,
  id: string,
  exec: string,
  opts: { signal?: AbortSignal } = {},
): Promise<ExitInfo> {
  return eventsOf(ctx).exit(id, exec, opts.signal);
}

/** Marks every live container stopped with an unknown status (the VM is gone). */
export async function markAllStopped(ctx: SandboxContext, reason: string): Promise<void> {
  let marked = 0;
  for (const c of await ctx.rt.repo.listContainers(ctx.record.id)) {
    if (c.status.kind === "stopped" || c.status.kind === "creating") continue;
    await saveContainer(ctx, {
      ...c,
      status: { kind: "stopped", pid: c.status.pid, exitStatus: null, exitedAt: now() },
    });
    marked++;
  }
  if (marked > 0) ctx.log.warn("containers marked stopped", { reason, containers: marked });
}
