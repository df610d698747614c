/**
 * `cocoon factory init | status | destroy` behind the CLI: the VM config a sandbox of this
 * configuration would get (same boot devices, kernel parameters and sizes, as createSandbox builds
 * it), so `init` makes exactly the template sandboxes will find.
 *
 * @module
 */
import { unmountAndRemove } from "../sys/safe_remove.ts";
import type { FactoryProgress, FactoryStatus, VmConfig } from "../../plugins/types.ts";
import { sandboxId } from "../ids.ts";
import { sharedFsPlugin } from "../sandbox/create_sandbox.ts";
import type { SandboxRuntime } from "../sandbox/runtime.ts";
import { buildVmConfig, hostFacts, imageBytes, imageCmdline } from "../sandbox/vm_config.ts";
import { factoryName, factoryOptions, openFactory } from "./factory.ts";

/** Id of the stand-in sandbox whose VM config `init` builds the template for. */
export const INIT_SANDBOX_ID = "factory-init";

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

/** Status of the configured factory (templates present, their shape and build time). */
export async function factoryStatus(
  rt: { config: SandboxRuntime["config"]; log: SandboxRuntime["log"] },
): Promise<FactoryStatus> {
  const factory = await openFactory(rt.config, "template", { log: rt.log });
  return await factory.status();
}

/** Removes every template under `[factory] template_path`. */
export async function destroyFactory(
  rt: { config: SandboxRuntime["config"]; log: SandboxRuntime["log"] },
): Promise<void> {
  const factory = await openFactory(rt.config, "template", { log: rt.log });
  await factory.destroy();
}
