/**
 * deleteContainer: removes a container from the guest, unshares its storages and deletes its
 * records. Without `force` only created and stopped containers may go (runc's rule); with `force`
 * a live one is killed first. When the VM is gone, the host side is still cleaned.
 *
 * @module
 */
import type { Vm } from "../../plugins/types.ts";
import { HypervisorError, isRuntimeError } from "../errors.ts";
import { containerId } from "../ids.ts";
import { loadContainer, type SandboxContext } from "./_context.ts";
import type { ContainerRecord } from "./records.ts";
import { canDelete, isAlive, refuse } from "./status.ts";

export interface DeleteContainerOptions {
  readonly force?: boolean;
  readonly signal?: AbortSignal;
}

export async function deleteContainer(
  ctx: SandboxContext,
  id: string,
  opts: DeleteContainerOptions = {},
): Promise<void> {
  const c = await loadContainer(ctx, containerId(id));
  await removeContainerRecord(ctx, c, opts);
}

/** The body of deleteContainer, also used by deleteSandbox (which already holds the queue). */
export async function removeContainerRecord(
  ctx: SandboxContext,
  c: ContainerRecord,
  opts: DeleteContainerOptions,
): Promise<void> {
  const cid = c.id;
  if (!canDelete(c.status, opts)) {
    throw refuse("delete", `container "${cid}"`, c.status, "stop it first or use force");
  }
  const agent = ctx.agent !== undefined && !ctx.agent.closed && ctx.record.status.kind === "ready"
    ? ctx.agent
    : undefined;
  if (agent !== undefined) {
    try {
      if (isAlive(c.status) && c.status.kind !== "created") {
        await agent.signalProcess({ containerId: cid }, 9, { all: true }).catch(() => {});
      }
      await agent.removeContainer(cid, { timeoutSecs: 0, ...(opts.signal ? { signal: opts.signal } : {}) });
    } catch (e) {
      // Already gone in the guest is fine; anything else stops a non-forced delete.
      if (!(isRuntimeError(e) && e.code === "NotFound") && opts.force !== true) throw e;
      ctx.log.warn("guest removal failed", { container: cid, error: e });
    }
  } else if (opts.force !== true && isAlive(c.status)) {
    throw refuse("delete", `container "${cid}"`, c.status, "its sandbox's agent is not reachable: use force");
  }
  for (const s of [...c.storages].reverse()) {
    const plugin = await ctx.rt.storage(s.plugin);
    const p = ctx.record.prepared.find((x) => x.plugin === s.plugin);
    if (ctx.vm === undefined && s.storage.devices.length > 0) {
      ctx.log.warn("storage device left with the gone VM", { container: cid, source: s.storage.source });
      continue;
    }
    try {
      await plugin.unshare(s.storage, { vm: ctx.vm ?? goneVm(ctx), ...(p ? { prepared: p } : {}) });
    } catch (e) {
      if (opts.force !== true) throw e;
      ctx.log.warn("unshare failed", { container: cid, source: s.storage.source, error: e });
    }
  }
  await ctx.rt.repo.deleteContainer(ctx.record.id, cid);
  await ctx.rt.repo.releaseContainerId(cid);
  ctx.log.info("container deleted", { container: cid });
}

/** A stand-in VM for unsharing host-only storages after the VM is gone: every VM call fails. */
function goneVm(ctx: SandboxContext): Vm {
  const fail = (): never => {
    throw new HypervisorError(
      "FailedPrecondition",
      `Cannot use the VM of sandbox "${ctx.record.id}": it is gone`,
    );
  };
  return {
    id: ctx.record.id,
    start: fail,
    stop: () => Promise.resolve(),
    pause: fail,
    resume: fail,
    wait: () => Promise.resolve({ kind: "unknown" }),
    addDevice: fail,
    removeDevice: fail,
    agentAddress: fail,
    pids: () => [],
    saveState: fail,
    [Symbol.asyncDispose]: () => Promise.resolve(),
  };
}
