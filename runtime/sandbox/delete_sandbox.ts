/**
 * deleteSandbox: removes every container, tells the agent, stops the VM, detaches the network,
 * releases the shared directory and removes the sandbox directory and records. With `force` it
 * works from any state, including a sandbox whose create crashed half-way or whose VM was killed:
 * each step that has nothing to do is skipped, and a failing step does not stop the later ones.
 *
 * @module
 */
import type { Vm } from "../../plugins/types.ts";
import { isRuntimeError, SandboxError } from "../errors.ts";
import type { SandboxContext } from "./_context.ts";
import { removeOwnedTaps } from "./hotplug.ts";
import { killStrays } from "../sys/strays.ts";
import { canonicalPath } from "../sys/canonical_path.ts";
import { removeTree } from "../sys/safe_remove.ts";
import { leaveHostCgroup } from "../sys/host_cgroup.ts";
import { releaseVmUsersUnder } from "../sys/vm_user.ts";
import { removeContainerRecord } from "./delete.ts";
import { detachNetwork } from "./network.ts";
import { markStopped } from "./events.ts";
import { canDeleteSandbox, isAlive, now, refuse } from "./status.ts";

export interface DeleteSandboxOptions {
  readonly force?: boolean;
  /** Graceful VM power-off budget before it is killed (default 5000 ms; 0 with force). */
  readonly stopTimeoutMs?: number;
  readonly signal?: AbortSignal;
}

export async function deleteSandbox(ctx: SandboxContext, opts: DeleteSandboxOptions): Promise<void> {
  const { rt } = ctx;
  const id = ctx.record.id;
  const force = opts.force === true;
  const containers = await rt.repo.listContainers(id);
  const live = containers.filter((c) => isAlive(c.status)).length;
  if (!canDeleteSandbox(ctx.record.status, { force, liveContainers: live })) {
    throw refuse(
      "delete",
      `sandbox "${id}"`,
      ctx.record.status,
      `${live} container(s) still run: stop them or use force`,
    );
  }
  const errors: unknown[] = [];
  const step = async (what: string, fn: () => Promise<unknown>) => {
    try {
      await fn();
    } catch (e) {
      if (!force) throw e;
      errors.push(e);
      ctx.log.warn("delete step failed", { step: what, error: e });
    }
  };
  for (const c of containers) {
    await step(`container ${c.id}`, () => removeContainerRecord(ctx, c, { force: true }));
  }

  const agent = ctx.agent;
  if (agent !== undefined && !agent.closed) {
    if (ctx.record.status.kind === "ready") {
      await agent.destroySandbox(id, { timeoutMs: 10_000 }).catch((e) =>
        ctx.log.warn("agent destroy failed", { error: e })
      );
    }
    agent.close();
  }
  ctx.agent = undefined;

  await step("stop the VM", async () => {
    const vm = ctx.vm ?? await reattach(ctx);
    if (vm !== undefined) {
      await vm.stop({ force, timeoutMs: opts.stopTimeoutMs ?? (force ? 0 : 5000) });
    }
    ctx.vm = undefined;
  });
  // With force, a VMM or virtiofsd that no record names: spawned just before a crash of the
  // creating process (the record said "creating", not yet which pid), or left by a stop that failed.
  if (force) {
    await step("end what no record names", async () => {
      const killed = await killStrays(id, await canonicalPath(ctx.record.dir)).catch((e) => {
        // a library caller without read access to /proc: nothing to sweep with
        if (e instanceof Deno.errors.NotCapable) return [];
        throw e;
      });
      if (killed.length > 0) {
        ctx.log.warn("killed processes of the sandbox that no record named", { pids: killed });
      }
    });
  }

  if ((ctx.record.hotplugged?.nics.length ?? 0) > 0) {
    await step("remove hot-plugged NICs' taps", () => removeOwnedTaps(ctx));
  }
  const net = ctx.record.network;
  if (net !== null) {
    await step("detach the network", () => detachNetwork(ctx, net));
  }
  for (const p of ctx.record.prepared) {
    await step(`release ${p.plugin}`, async () => {
      const s = await rt.storage(p.plugin);
      await s.releaseSandbox?.(p, { sandbox: id, dir: ctx.record.dir });
    });
  }
  await step("leave the host cgroup", async () => {
    const left = await leaveHostCgroup(ctx.record.hostCgroups ?? []);
    if (left.length > 0) ctx.log.warn("host cgroups left behind", { dirs: left });
  });
  // a VM that died without cleaning up (killed) still holds its uid claim
  await step("release the VM's uid", () => releaseVmUsersUnder(ctx.record.dir));
  // Never recursive-remove through a mount: removeTree refuses when one remains.
  await removeTree(ctx.record.dir);
  await rt.repo.deleteSandbox(id);
  ctx.record = { ...ctx.record, vm: null, status: { kind: "stopped", stoppedAt: now(), reason: "deleted" } };
  ctx.released = true;
  ctx.log.info("sandbox deleted", { containers: containers.length, problems: errors.length });
}

/** The VM of a record whose handle this process does not hold; undefined when it is gone. */
async function reattach(ctx: SandboxContext): Promise<Vm | undefined> {
  const state = ctx.record.vm;
  if (state === null) return undefined;
  try {
    return await ctx.rt.hypervisor.attachVm(state);
  } catch (e) {
    if (isRuntimeError(e) && e.code === "NotFound") return undefined; // already gone
    throw new SandboxError(
      "Internal",
      `Cannot stop the VM of sandbox "${ctx.record.id}": cannot attach to it`,
      {
        cause: e,
      },
    );
  }
}

/** Stops the VM but keeps the records (a sandbox whose containers all ended, `shutdown`). */
export async function stopSandbox(
  ctx: SandboxContext,
  opts: { force?: boolean; timeoutMs?: number } = {},
): Promise<void> {
  const vm = ctx.vm ?? await reattach(ctx);
  if (ctx.agent !== undefined && !ctx.agent.closed) ctx.agent.close();
  ctx.agent = undefined;
  if (vm !== undefined) await vm.stop({ force: opts.force ?? false, timeoutMs: opts.timeoutMs ?? 5000 });
  ctx.vm = undefined;
  await markStopped(ctx, "stopped");
}
