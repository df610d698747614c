/**
 * A sandbox taking a VM from the VM cache: the cached VM's directory (laid out like a sandbox
 * directory) becomes the sandbox directory, then the VM is attached, checked against the sandbox's
 * VM shape and made the sandbox's own (entropy, clock, hostname). A VM of another shape is stopped
 * and the sandbox boots as it would without a cache.
 *
 * @module
 */
import { unmountAndRemove } from "../sys/safe_remove.ts";
import type { Vm, VmConfig } from "../../plugins/types.ts";
import { SandboxError } from "../errors.ts";
import type { SandboxContext } from "./_context.ts";
import type { SandboxRuntime } from "./runtime.ts";
import { safeHostname } from "./vm_config.ts";
import type { CachedVm } from "../factory/cache_server.ts";
import { movedState } from "../factory/cache_client.ts";
import { cloneSetup } from "../factory/clone_setup.ts";
import { vmShapeKey } from "../factory/vm_shape.ts";

/** Moves the cached VM's directory to `dir` (which must not exist); stops the VM when it cannot. */
export async function adoptCachedDir(rt: SandboxRuntime, vm: CachedVm, dir: string): Promise<void> {
  const taken = await Deno.stat(dir).then(() => true, () => false);
  try {
    if (taken) throw new Deno.errors.AlreadyExists(`"${dir}" exists`);
    await Deno.rename(vm.dir, dir);
  } catch (e) {
    await rt.hypervisor.attachVm(vm.state).then((v) => v.stop({ force: true })).catch(() => {});
    await unmountAndRemove(vm.dir).catch(() => {});
    throw e;
  }
}

/** The cached VM now in the sandbox directory, or undefined (VM stopped) when its shape differs. */
export async function attachCached(
  ctx: SandboxContext,
  cached: CachedVm,
  config: VmConfig,
  hostname: string,
): Promise<Vm | undefined> {
  const vm = await ctx.rt.hypervisor.attachVm(movedState(cached, ctx.record.dir));
  if (await vmShapeKey(config) !== cached.key) {
    ctx.log.warn("cached VM has another shape: booting one instead", { cached: cached.state.id });
    await vm.stop({ force: true });
    return undefined;
  }
  try {
    await cloneSetup(ctx.log.child({ subsystem: "factory" }))(vm, { hostname: safeHostname(hostname) });
  } catch (e) {
    await vm.stop({ force: true }).catch(() => {});
    throw new SandboxError("Unavailable", `Cannot use the cached VM for sandbox "${ctx.record.id}"`, {
      cause: e,
    });
  }
  ctx.log.info("vm taken from the cache", { cached: cached.state.id, pid: cached.state.pid });
  return vm;
}
