/**
 * The mutable state behind a `Sandbox` handle, shared by the operation files: the runtime, the
 * current record, the VM and agent handles, and a per-sandbox lock that serialises transitions.
 *
 * @module
 */
import type { Vm } from "../../plugins/types.ts";
import { SandboxError } from "../errors.ts";
import type { ContainerId } from "../ids.ts";
import type { Logger } from "../log/logger.ts";
import type { AgentApi } from "./agent_port.ts";
import type { ContainerRecord, SandboxRecord } from "./records.ts";
import type { SandboxRuntime } from "./runtime.ts";
import { refuse } from "./status.ts";

export interface SandboxContext {
  readonly rt: SandboxRuntime;
  readonly log: Logger;
  record: SandboxRecord;
  vm: Vm | undefined;
  agent: AgentApi | undefined;
  /** Tail of the transition queue. */
  queue: Promise<unknown>;
  /** Set by release(): the handle may no longer be used. */
  released: boolean;
  /** Called when a process starts (container init: no execId), so monitors can wait for it. */
  readonly onStart: Set<(containerId: string, execId?: string) => void>;
}

export function newContext(
  rt: SandboxRuntime,
  record: SandboxRecord,
  vm?: Vm,
  agent?: AgentApi,
): SandboxContext {
  return {
    rt,
    log: rt.log.child({ sandbox: record.id }),
    record,
    vm,
    agent,
    queue: Promise.resolve(),
    released: false,
    onStart: new Set(),
  };
}

/** Runs `fn` after every transition queued before it (one transition at a time per sandbox). */
export function serialized<T>(ctx: SandboxContext, fn: () => Promise<T>): Promise<T> {
  const run = ctx.queue.then(fn, fn);
  ctx.queue = run.catch(() => {});
  return run;
}

/** Saves a new sandbox record (persist first, then adopt). */
export async function saveSandbox(ctx: SandboxContext, next: SandboxRecord): Promise<void> {
  await ctx.rt.repo.saveSandbox(next);
  ctx.record = next;
}

export async function saveContainer(ctx: SandboxContext, next: ContainerRecord): Promise<ContainerRecord> {
  await ctx.rt.repo.saveContainer(next);
  return next;
}

export function loadContainer(ctx: SandboxContext, id: ContainerId): Promise<ContainerRecord> {
  return ctx.rt.repo.loadContainer(ctx.record.id, id);
}

function requireUsable(ctx: SandboxContext, op: string): void {
  if (ctx.released) {
    throw new SandboxError(
      "FailedPrecondition",
      `Cannot ${op} in sandbox "${ctx.record.id}": the handle was released`,
    );
  }
}

/** The agent, when the sandbox is ready (or paused, for `op`s that allow it). */
export function requireAgent(ctx: SandboxContext, op: string, allowPaused = false): AgentApi {
  requireUsable(ctx, op);
  const s = ctx.record.status;
  if (!(s.kind === "ready" || (allowPaused && s.kind === "paused"))) {
    throw refuse(op, `in sandbox "${ctx.record.id}"`, s);
  }
  if (ctx.agent === undefined || ctx.agent.closed) {
    throw new SandboxError(
      "Unavailable",
      `Cannot ${op} in sandbox "${ctx.record.id}": its agent is not connected`,
    );
  }
  return ctx.agent;
}

export function requireVm(ctx: SandboxContext, op: string): Vm {
  requireUsable(ctx, op);
  if (ctx.vm === undefined) {
    throw new SandboxError("FailedPrecondition", `Cannot ${op} sandbox "${ctx.record.id}": it has no VM`);
  }
  return ctx.vm;
}

/** Connects to the agent of `vm`, logging as subsystem `agent-client`. */
export function connectAgent(
  ctx: SandboxContext,
  vm: Vm,
  opts: { timeoutMs: number; signal?: AbortSignal },
): Promise<AgentApi> {
  return ctx.rt.connectAgent(vm.agentAddress(), {
    ...opts,
    log: ctx.log.child({ subsystem: "agent-client" }),
  });
}

/** Milliseconds of `runtime.create_container_timeout`. */
export function createTimeoutMs(ctx: SandboxContext): number {
  return ctx.rt.config.runtime.createContainerTimeoutSeconds * 1000;
}
