/**
 * startContainer: runs the created container's process (created -> running).
 *
 * @module
 */
import { containerId } from "../ids.ts";
import { loadContainer, requireAgent, type SandboxContext, saveContainer } from "./_context.ts";
import type { ContainerRecord } from "./records.ts";
import { rescanBeforeStart } from "./network.ts";
import { canStart, now, refuse } from "./status.ts";

export async function startContainer(
  ctx: SandboxContext,
  id: string,
  opts: { signal?: AbortSignal } = {},
): Promise<ContainerRecord> {
  const cid = containerId(id);
  const c = await loadContainer(ctx, cid);
  if (!canStart(c.status)) throw refuse("start", `container "${cid}"`, c.status);
  const agent = requireAgent(ctx, `start container "${cid}"`);
  await rescanBeforeStart(ctx, opts);
  const pid = await agent.startContainer(cid, opts.signal ? { signal: opts.signal } : {});
  const next = await saveContainer(ctx, { ...c, status: { kind: "running", pid, startedAt: now() } });
  ctx.log.info("container started", { container: cid, pid });
  for (const f of ctx.onStart) f(cid);
  return next;
}
