/**
 * Building a template: boot a VM whose RAM is the template's shared memory file, with the boot
 * devices every clone will have; wait for its agent; close the agent connection and let the agent
 * go back to waiting for a host; pause and save the device state; quit. The 9p shares are given
 * but never mounted (the agent mounts them at CreateSandbox, after a clone's restore: QEMU refuses
 * to migrate a VM whose 9p export is mounted).
 *
 * @module
 */
import type { Logger } from "../../../runtime/log/logger.ts";
import { sandboxId } from "../../../runtime/ids.ts";
import type { Device, FactoryOptions, VmConfig } from "../../types.ts";
import { sharedKernelParams, splitDevices, TEMPLATE_HOSTNAME } from "./template_key.ts";
import {
  prepareTemplateDir,
  removeTemplate,
  type TemplateMeta,
  type TemplatePaths,
  writeMeta,
} from "./template_store.ts";

/** Pause between closing the template agent's connection and saving, so the agent settles. */
const SETTLE_MS = 1000;

/** The template VM's config, from a VM of the shape it serves. Pure. */
export function templateVmConfig(config: VmConfig, key: string, paths: TemplatePaths): VmConfig {
  let share = 0;
  const devices: Device[] = splitDevices(config).boot.map((d) =>
    d.kind === "share-fs" ? { ...d, source: `${paths.build}/share-${share++}` } : d
  );
  const { netns: _netns, ...rest } = config;
  return {
    ...rest,
    id: sandboxId(`tmpl-${key.slice(0, 12)}`),
    stateDir: `${paths.build}/vm`,
    consoleLog: `${paths.build}/console.log`,
    kernelParams: [...sharedKernelParams(config.kernelParams), `cocoon.hostname=${TEMPLATE_HOSTNAME}`],
    devices,
    memoryTemplate: { kind: "template", memoryFile: paths.memory },
  };
}

/** A clone's config: the VM's own paths and shares, the template's boot devices and memory. Pure. */
export function cloneVmConfig(config: VmConfig, paths: TemplatePaths): VmConfig {
  return {
    ...config,
    devices: splitDevices(config).boot,
    memoryTemplate: { kind: "clone", memoryFile: paths.memory, stateFile: paths.state },
  };
}

/** Builds the template `key` for `config`'s shape. The caller holds the builder lock. */
export async function buildTemplate(
  config: VmConfig,
  key: string,
  paths: TemplatePaths,
  opts: FactoryOptions & { log: Logger },
): Promise<TemplateMeta> {
  const t0 = performance.now();
  const sig = opts.signal ? { signal: opts.signal } : {};
  const step = (s: string, detail?: string) => {
    opts.progress?.({
      step: s,
      ...(detail !== undefined ? { detail } : {}),
      elapsedMs: performance.now() - t0,
    });
    opts.log.info("template build", { key, step: s, ...(detail !== undefined ? { detail } : {}) });
  };
  step("prepare", `${config.memoryMiB} MiB memory file in ${paths.dir}`);
  let ownMount = false;
  try {
    ownMount = await prepareTemplateDir(paths, config.memoryMiB);
    await Deno.remove(paths.build, { recursive: true }).catch(() => {});
    const tmpl = templateVmConfig(config, key, paths);
    await Deno.mkdir(tmpl.stateDir, { recursive: true, mode: 0o700 });
    for (const d of tmpl.devices) {
      if (d.kind === "share-fs") await Deno.mkdir(d.source, { recursive: true, mode: 0o700 });
    }
    {
      using f = await Deno.open(paths.memory, { write: true, create: true, truncate: true, mode: 0o600 });
      await f.truncate(config.memoryMiB * 1024 * 1024);
    }
    const vm = await opts.hypervisor.createVm(tmpl, sig);
    let bootMs = 0;
    try {
      step("boot", `template VM "${tmpl.id}"`);
      await vm.start(sig);
      const agent = await opts.probeAgent(vm.agentAddress(), { timeoutMs: opts.agentTimeoutMs, ...sig });
      bootMs = performance.now() - t0;
      step("agent ready", `${Math.round(bootMs)} ms`);
      agent.close();
      await new Promise((r) => setTimeout(r, SETTLE_MS));
      if (vm.saveTemplate === undefined) throw new Error("the hypervisor cannot save templates");
      step("save", "pause and save the device state (x-ignore-shared)");
      await vm.saveTemplate(paths.state, sig);
    } finally {
      await vm.stop({ force: true });
    }
    const meta: TemplateMeta = {
      schema: 1,
      key,
      createdAt: new Date().toISOString(),
      memoryMiB: config.memoryMiB,
      vcpus: config.vcpus,
      kernel: config.kernel,
      stateBytes: (await Deno.stat(paths.state)).size,
      buildMs: Math.round(performance.now() - t0),
      bootMs: Math.round(bootMs),
      ownMount,
    };
    await writeMeta(paths, meta);
    step("done", `${meta.buildMs} ms, device state ${meta.stateBytes} bytes`);
    return meta;
  } catch (e) {
    await removeTemplate(paths, { keepLock: true }).catch(() => {});
    throw e;
  } finally {
    await Deno.remove(paths.build, { recursive: true }).catch(() => {});
  }
}
