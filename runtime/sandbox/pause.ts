/**
 * Pause and resume: of one container (its cgroup is frozen in the guest) or of the whole sandbox
 * (the VM's vCPUs stop).
 *
 * @module
 */
import { containerId } from "../ids.ts";
import {
  connectAgent,
  loadContainer,
  requireAgent,
  requireVm,
  type SandboxContext,
  saveContainer,
  saveSandbox,
} from "./_context.ts";
import type { ContainerRecord } from "./records.ts";
import { canPause, canPauseSandbox, canResume, canResumeSandbox, now, refuse } from "./status.ts";

export async function pauseContainer(ctx: SandboxContext, id: string): Promise<ContainerRecord> {
  const cid = containerId(id);
  const c = await loadContainer(ctx, cid);
  if (!canPause(c.status) || c.status.kind !== "running") {
    throw refuse("pause", `container "${cid}"`, c.status);
  }
  await requireAgent(ctx, `pause container "${cid}"`).pauseContainer(cid);
  return await saveContainer(ctx, { ...c, status: { ...c.status, kind: "paused" } });
}

export async function resumeContainer(ctx: SandboxContext, id: string): Promise<ContainerRecord> {
  const cid = containerId(id);
  const c = await loadContainer(ctx, cid);
  if (!canResume(c.status) || c.status.kind !== "paused") {
    throw refuse("resume", `container "${cid}"`, c.status);
  }
  await requireAgent(ctx, `resume container "${cid}"`).resumeContainer(cid);
  return await saveContainer(ctx, { ...c, status: { ...c.status, kind: "running" } });
}

/** Stops the VM's vCPUs: every container stops running; the agent does not answer until resumed. */
export async function pauseSandbox(ctx: SandboxContext): Promise<void> {
  const s = ctx.record.status;
  if (!canPauseSandbox(s) || s.kind !== "ready") throw refuse("pause", `sandbox "${ctx.record.id}"`, s);
  await requireVm(ctx, "pause").pause();
  await saveSandbox(ctx, { ...ctx.record, status: { ...s, kind: "paused", pausedAt: now() } });
}

export async function resumeSandbox(ctx: SandboxContext): Promise<void> {
  const s = ctx.record.status;
  if (!canResumeSandbox(s) || s.kind !== "paused") throw refuse("resume", `sandbox "${ctx.record.id}"`, s);
  const vm = requireVm(ctx, "resume");
  await vm.resume();
  await saveSandbox(ctx, { ...ctx.record, status: { kind: "ready", startedAt: s.startedAt } });
  if (ctx.agent === undefined || ctx.agent.closed) {
    ctx.agent = await connectAgent(ctx, vm, { timeoutMs: ctx.record.agentTimeoutSeconds * 1000 });
  }
}
