/**
 * The `template` VM factory: each VM is a clone of a template of its shape, built on first use (or
 * by `cocoon factory init`). A clone maps the template's memory privately, restores its device
 * state, gets its own devices hot-plugged, and is then made its own by the core's `setupClone`
 * (fresh entropy, clock, hostname).
 *
 * @module
 */
import { HypervisorError } from "../../../runtime/errors.ts";
import type { Logger } from "../../../runtime/log/logger.ts";
import type {
  FactoryBackend,
  FactoryOptions,
  FactoryStatus,
  FactoryVm,
  Hypervisor,
  VmConfig,
} from "../../types.ts";
import { buildTemplate, cloneVmConfig } from "./template_build.ts";
import { splitDevices, templateKey } from "./template_key.ts";
import {
  listTemplateKeys,
  lockTemplate,
  readMeta,
  removeTemplate,
  type TemplateMeta,
  templatePaths,
} from "./template_store.ts";

export interface TemplateFactoryOptions {
  /** `[factory] template_path`. */
  readonly root: string;
  readonly log: Logger;
}

async function identityOf(hv: Hypervisor, config: VmConfig, signal?: AbortSignal): Promise<string> {
  if (!hv.capabilities().template || hv.identity === undefined) {
    throw new HypervisorError(
      "FailedPrecondition",
      `Cannot clone VM "${config.id}" from a template: the hypervisor does not support templates`,
    );
  }
  return await hv.identity(signal ? { signal } : {});
}

export function createTemplateFactory(o: TemplateFactoryOptions): FactoryBackend {
  const log = o.log;

  /** The finished template for `config`, built under the lock when missing. */
  async function ensure(
    config: VmConfig,
    opts: FactoryOptions,
  ): Promise<{ key: string; meta: TemplateMeta }> {
    const key = await templateKey(config, await identityOf(opts.hypervisor, config, opts.signal));
    const paths = templatePaths(o.root, key);
    const ready = await readMeta(paths);
    if (ready !== undefined) return { key, meta: ready };
    await Deno.mkdir(o.root, { recursive: true, mode: 0o700 });
    await using _lock = await lockTemplate(paths);
    const again = await readMeta(paths); // another builder may have finished while we waited
    if (again !== undefined) return { key, meta: again };
    log.info("no template for this VM shape: building one", { key, memoryMiB: config.memoryMiB });
    return { key, meta: await buildTemplate(config, key, paths, { ...opts, log }) };
  }

  return {
    name: "template",

    async getVm(config: VmConfig, opts: FactoryOptions & { hostname: string }): Promise<FactoryVm> {
      const t0 = performance.now();
      const sig = opts.signal ? { signal: opts.signal } : {};
      const { hotplug } = splitDevices(config);
      const { key } = await ensure(config, opts);
      const tReady = performance.now();
      const vm = await opts.hypervisor.createVm(cloneVmConfig(config, templatePaths(o.root, key)), sig);
      try {
        await vm.start(sig);
        for (const d of hotplug) await vm.addDevice(d);
        await opts.setupClone?.(vm, { hostname: opts.hostname, ...sig });
      } catch (e) {
        await vm.stop({ force: true }).catch(() => {});
        throw e;
      }
      const startMs = performance.now() - tReady;
      log.info("vm cloned from template", {
        sandbox: config.id,
        key,
        hotplugged: hotplug.map((d) => d.id),
        cloneMs: Math.round(startMs),
        totalMs: Math.round(performance.now() - t0),
      });
      return { vm, origin: "template", startMs };
    },

    async init(config: VmConfig, opts: FactoryOptions): Promise<FactoryStatus> {
      await ensure(config, opts);
      return await this.status(opts.signal ? { signal: opts.signal } : {});
    },

    async status(): Promise<FactoryStatus> {
      const items: FactoryStatus["items"][number][] = [];
      for (const key of await listTemplateKeys(o.root)) {
        const meta = await readMeta(templatePaths(o.root, key));
        items.push(
          meta === undefined ? { name: key, state: "incomplete" } : {
            name: key,
            state: "ready",
            detail:
              `${meta.memoryMiB} MiB, ${meta.vcpus} vCPU, built ${meta.createdAt} in ${meta.buildMs} ms, device state ${meta.stateBytes} bytes`,
          },
        );
      }
      return { kind: "template", items };
    },

    async destroy(): Promise<void> {
      for (const key of await listTemplateKeys(o.root)) {
        await removeTemplate(templatePaths(o.root, key));
        log.info("template removed", { key });
      }
    },
  };
}
