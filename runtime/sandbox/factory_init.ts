/**
 * `cocoon factory init` and the VM cache's VMs: the VM config a sandbox of this configuration would
 * get (same boot devices, kernel parameters and sizes as createSandbox builds it), so `init` makes
 * exactly the template sandboxes will find, and the cache boots VMs that sandboxes can take.
 *
 * @module
 */
import { unmountAndRemove } from "../sys/safe_remove.ts";
import type { FactoryProgress, FactoryStatus, VmConfig } from "../../plugins/types.ts";
import { sandboxId } from "../ids.ts";
import { factoryName, factoryOptions, openFactory } from "../factory/factory.ts";
import { sharedFsPlugin } from "./create_sandbox.ts";
import type { SandboxRuntime } from "./runtime.ts";
import { buildVmConfig, hostFacts, imageBytes, imageCmdline } from "./vm_config.ts";

/** Id of the stand-in sandbox whose VM config `init` builds the template for. */
const INIT_SANDBOX_ID = "factory-init";

/** The VM config of a sandbox of `rt`'s configuration, with its shares prepared in `dir`. */
export async function sandboxShapedVmConfig(
  rt: SandboxRuntime,
  dir: string,
  vmId: string = INIT_SANDBOX_ID,
): Promise<{ config: VmConfig; release: () => Promise<void> }> {
  const cfg = rt.config;
  const id = sandboxId(vmId);
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  const shareName = sharedFsPlugin(cfg);
  let release = () => Promise.resolve();
  let devices: VmConfig["devices"] = [];
  if (shareName !== null) {
    const share = await rt.storage(shareName);
    const p = await share.prepareSandbox?.({ sandbox: id, dir });
    if (p !== undefined) {
      devices = p.devices;
      release = async () => await (share.releaseSandbox?.(p, { sandbox: id, dir }) ?? Promise.resolve());
    }
  }
  const config = buildVmConfig(cfg, {
    id,
    dir,
    devices,
    imageCmdline: await imageCmdline(cfg.hypervisor.kernel),
    imageBytes: await imageBytes(cfg.hypervisor.image),
    ...hostFacts(),
  });
  return { config, release };
}

/** Builds what the configured factory needs ahead of time (the template), reporting progress. */
export async function initFactory(
  rt: SandboxRuntime,
  opts: { progress?: (p: FactoryProgress) => void; signal?: AbortSignal } = {},
): Promise<FactoryStatus> {
  const name = factoryName(rt.config);
  const factory = await openFactory(rt.config, name, { log: rt.log });
  if (name === "new") return await factory.status();
  const dir = `${rt.config.factory.templatePath.replace(/\/+$/, "")}/.init-${
    crypto.randomUUID().slice(0, 8)
  }`;
  const { config, release } = await sandboxShapedVmConfig(rt, dir);
  try {
    return await factory.init(config, factoryOptions(rt, rt.log, opts));
  } finally {
    await release().catch(() => {});
    await unmountAndRemove(dir).catch(() => {});
  }
}
