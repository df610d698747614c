/**
 * Waiting for exits: a container's init (running -> stopped, persisted) or an exec'd process. The
 * status is exact: the exit code, or 128 + the signal that ended it.
 *
 * @module
 */
import { containerId, execId } from "../ids.ts";
import { loadContainer, requireAgent, type SandboxContext, saveContainer, serialized } from "./_context.ts";
import { now } from "./status.ts";

export interface ExitInfo {
  readonly exitStatus: number;
  readonly exitedAt: string;
  readonly pid: number;
}

/** Waits for the container's init process to exit and records it. Returns at once if it has. */
export async function waitContainer(
  ctx: SandboxContext,
  id: string,
  opts: { signal?: AbortSignal } = {},
): Promise<ExitInfo> {
  const cid = containerId(id);
  const first = await loadContainer(ctx, cid);
  if (first.status.kind === "stopped" && first.status.exitStatus !== null) {
    return { exitStatus: first.status.exitStatus, exitedAt: first.status.exitedAt, pid: first.status.pid };
  }
  const agent = requireAgent(ctx, `wait for container "${cid}"`, true);
  const exit = await agent.waitProcess({ containerId: cid }, opts.signal ? { signal: opts.signal } : {});
  const exitedAt = (exit.exitedAt ?? new Date()).toISOString();
  await serialized(ctx, async () => {
    const c = await loadContainer(ctx, cid);
    if (c.status.kind !== "stopped") {
      await saveContainer(ctx, {
        ...c,
        status: { kind: "stopped", pid: exit.pid, exitStatus: exit.exitStatus, exitedAt },
      });
    }
  });
  ctx.log.info("container exited", { container: cid, exitStatus: exit.exitStatus });
  return { exitStatus: exit.exitStatus, exitedAt, pid: exit.pid };
}

/** Waits for an exec'd process to exit and records it. */
export async function waitExec(
  ctx: SandboxContext,
  id: string,
  exec: string,
  opts: { signal?: AbortSignal } = {},
): Promise<ExitInfo> {
  const cid = containerId(id);
  const eid = execId(exec);
  const c0 = await loadContainer(ctx, cid);
  const known = c0.execs[eid];
  if (known?.status.kind === "exited" && known.status.exitStatus !== null) {
    return { exitStatus: known.status.exitStatus, exitedAt: known.status.exitedAt, pid: known.status.pid };
  }
  const agent = requireAgent(ctx, `wait for process "${eid}" of container "${cid}"`, true);
  const exit = await agent.waitProcess(
    { containerId: cid, execId: eid },
    opts.signal ? { signal: opts.signal } : {},
  );
  const exitedAt = (exit.exitedAt ?? new Date()).toISOString();
  await serialized(ctx, async () => {
    const c = await loadContainer(ctx, cid);
    const e = c.execs[eid];
    if (e !== undefined) {
      await saveContainer(ctx, {
        ...c,
        execs: {
          ...c.execs,
          [eid]: { ...e, status: { kind: "exited", pid: exit.pid, exitStatus: exit.exitStatus, exitedAt } },
        },
      });
    }
  });
  return { exitStatus: exit.exitStatus, exitedAt, pid: exit.pid };
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
