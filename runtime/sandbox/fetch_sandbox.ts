/**
 * fetchSandbox: a handle on an existing sandbox from its record, also from a new process:
 * re-attaches to the VM (`hypervisor.attachVm`) and reconnects to the agent. A VM that is gone
 * marks the sandbox and its containers stopped (only `delete` remains).
 *
 * Only one process can hold a VM's agent and QMP connections at a time (QEMU's socket chardevs
 * accept one client): `release()` the handle in one process before fetching it in another, or
 * fetch with `connect: false` to read records only.
 *
 * @module
 */
import { isRuntimeError } from "../errors.ts";
import { sandboxId } from "../ids.ts";
import { connectAgent, newContext, type SandboxContext, saveSandbox } from "./_context.ts";
import { markStopped } from "./events.ts";
import type { SandboxRuntime } from "./runtime.ts";
import { ownerRecord } from "./owner.ts";

export interface FetchSandboxOptions {
  /** Attach to the VM and connect to the agent (default true). */
  readonly connect?: boolean;
  /** Agent connect budget in ms (default: the sandbox's agent.dial_timeout). */
  readonly agentTimeoutMs?: number;
  readonly signal?: AbortSignal;
}

/** @throws {SandboxError} `NotFound` when there is no such sandbox. */
export async function fetchSandbox(
  rt: SandboxRuntime,
  id: string,
  opts: FetchSandboxOptions = {},
): Promise<SandboxContext> {
  const record = await rt.repo.loadSandbox(sandboxId(id));
  const ctx = newContext(rt, record);
  if (opts.connect === false || record.vm === null) return ctx;
  if (record.status.kind !== "ready" && record.status.kind !== "paused") return ctx;
  const sig = opts.signal ? { signal: opts.signal } : {};
  try {
    ctx.vm = await rt.hypervisor.attachVm(record.vm, sig);
  } catch (e) {
    if (!(isRuntimeError(e) && e.code === "NotFound")) throw e;
    ctx.log.warn("vm is gone", { error: e });
    await markStopped(ctx, "vm gone");
    return ctx;
  }
  if (record.status.kind === "ready") {
    const timeoutMs = opts.agentTimeoutMs ?? record.agentTimeoutSeconds * 1000;
    ctx.agent = await connectAgent(ctx, ctx.vm, { timeoutMs, ...sig });
  }
  // This process holds the VM now: whoever acts on the sandbox comes here.
  await saveSandbox(ctx, { ...ctx.record, owner: await ownerRecord(rt.owner) });
  return ctx;
}
