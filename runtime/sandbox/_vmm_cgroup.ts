/**
 * Where a sandbox's host processes (QEMU, and a virtiofsd a storage plugin started) are accounted
 * and bounded (runtime/sys/vmm_cgroup.ts): the pod's cgroup when the caller names one, else
 * Cocoon's own for the sandbox; a group without a memory limit gets the VM's memory plus
 * `[runtime] vmm_memory_overhead_mib`. With `sandbox_cgroup_only = true` (Kata's key) a pod must
 * name its cgroup and its limits are the caller's alone.
 *
 * @module
 */
import { basename } from "node:path";
import type { ResolvedConfig } from "../config/schema.ts";
import { SandboxError } from "../errors.ts";
import type { SandboxId } from "../ids.ts";
import { placeVmm, type VmmCgroupTarget } from "../sys/vmm_cgroup.ts";
import { type SandboxContext, saveSandbox } from "./_context.ts";

const MIB = 1024 * 1024;

/** Where the sandbox's host processes go, and their bound. */
export interface VmmCgroupPlan {
  readonly target: VmmCgroupTarget;
  /** Bytes of overhead over the VM's memory; undefined: no bound from Cocoon. */
  readonly overheadBytes: number | undefined;
}

/**
 * The plan for sandbox `id`, checked before anything is made.
 *
 * @throws {SandboxError} `InvalidArgument` when `sandbox_cgroup_only` is on and no cgroup was named.
 */
export function vmmCgroupTarget(
  cfg: ResolvedConfig,
  id: SandboxId,
  cgroupsPath: string | undefined,
): VmmCgroupPlan {
  if (cgroupsPath === undefined && cfg.runtime.sandboxCgroupOnly) {
    throw new SandboxError(
      "InvalidArgument",
      `Cannot create sandbox "${id}": sandbox_cgroup_only = true puts the VM in the pod's host cgroup, and none was given (linux.cgroupsPath): name one, or set sandbox_cgroup_only = false`,
    );
  }
  return {
    target: cgroupsPath !== undefined ? { kind: "pod", cgroupsPath } : { kind: "own", name: "" },
    overheadBytes: cfg.runtime.sandboxCgroupOnly ? undefined : cfg.runtime.vmmMemoryOverheadMiB * MIB,
  };
}

function helperPids(ctx: SandboxContext): number[] {
  return ctx.record.prepared.flatMap((p) => {
    const pid = p.state["pid"];
    return typeof pid === "number" && Number.isInteger(pid) && pid > 0 ? [pid] : [];
  });
}

/** Moves the sandbox's host processes into their group, records the groups made, returns them. */
export async function placeSandboxVmm(
  ctx: SandboxContext,
  plan: VmmCgroupPlan,
  vmMemoryMiB: number,
): Promise<string[]> {
  // a test double's pids name no process of its (they could name an unrelated one)
  if (ctx.rt.hypervisor.capabilities().simulatedPids === true) return [];
  const target: VmmCgroupTarget = plan.target.kind === "own"
    ? { kind: "own", name: basename(ctx.record.dir) }
    : plan.target;
  const pids = [...(ctx.vm?.pids() ?? []), ...helperPids(ctx)];
  const limit = plan.overheadBytes === undefined ? undefined : vmMemoryMiB * MIB + plan.overheadBytes;
  const made = await placeVmm(
    pids,
    target,
    limit,
    (dir, e) => ctx.log.warn("cannot place the VM's host processes in their cgroup", { dir, error: e }),
  );
  if (made.length > 0) await saveSandbox(ctx, { ...ctx.record, hostCgroups: made });
  ctx.log.debug("vm cgroup", { target, pids, limit, made });
  return made;
}
