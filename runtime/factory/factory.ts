/**
 * The core's side of the VM factory: which factory a sandbox uses (`[factory]` config, after
 * annotations), loading it through the plugin registry, and the options it is called with (the
 * runtime's hypervisor, an agent probe, the clone set-up).
 *
 * @module
 */
import type { AgentProbe, FactoryBackend, FactoryOptions } from "../../plugins/types.ts";
import type { ResolvedConfig } from "../config/schema.ts";
import type { Logger } from "../log/logger.ts";
import { loadPlugin } from "../plugins/loader.ts";
import { createRegistry, type PluginRegistry } from "../plugins/registry.ts";
import { cloneSetup } from "./clone_setup.ts";

export type FactoryName = "new" | "template";

/** The factory `cfg` asks for. Pure. */
export function factoryName(cfg: ResolvedConfig): FactoryName {
  return cfg.factory.enableTemplate ? "template" : "new";
}

/** The plugin config of a factory. Pure. */
export function factoryPluginConfig(cfg: ResolvedConfig, name: FactoryName): Record<string, unknown> {
  return name === "template" ? { template_path: cfg.factory.templatePath } : {};
}

const loaded = new Map<string, Promise<FactoryBackend>>();

/** The factory plugin `name` for `cfg` (one instance per name and template path in a process). */
export function openFactory(
  cfg: ResolvedConfig,
  name: FactoryName,
  opts: { log: Logger; registry?: PluginRegistry },
): Promise<FactoryBackend> {
  const key = `${name}\0${cfg.factory.templatePath}`;
  let p = loaded.get(key);
  if (p === undefined) {
    const registry = opts.registry ?? createRegistry(cfg.plugins.paths, cfg.plugins.integrity);
    p = loadPlugin(registry, "factory", name, {
      log: opts.log.child({ subsystem: "factory", factory: name }),
      config: factoryPluginConfig(cfg, name),
      runDir: cfg.runtime.stateDir,
    }).then((r) => r.instance);
    p.catch(() => loaded.delete(key));
    loaded.set(key, p);
  }
  return p;
}

/** What the factory needs of the runtime's agent connector: a client it can close. */
export type AgentDialer = (
  address: Parameters<AgentProbe>[0],
  opts: { timeoutMs: number; log: Logger; signal?: AbortSignal },
) => Promise<{ close(): void }>;

/** An agent probe from the runtime's connector: connect, answer, close. */
export function probeWith(connect: AgentDialer, log: Logger): AgentProbe {
  return async (address, o) => {
    const a = await connect(address, {
      timeoutMs: o.timeoutMs,
      log: log.child({ subsystem: "agent-client" }),
      ...(o.signal ? { signal: o.signal } : {}),
    });
    return { close: () => a.close() };
  };
}

/** What every factory call of the core passes. */
export function factoryOptions(
  rt: {
    readonly config: ResolvedConfig;
    readonly hypervisor: FactoryOptions["hypervisor"];
    readonly connectAgent: AgentDialer;
  },
  log: Logger,
  opts: { signal?: AbortSignal; progress?: FactoryOptions["progress"] } = {},
): FactoryOptions {
  return {
    hypervisor: rt.hypervisor,
    probeAgent: probeWith(rt.connectAgent, log),
    setupClone: cloneSetup(log.child({ subsystem: "factory" })),
    agentTimeoutMs: rt.config.agent.dialTimeoutSeconds * 1000,
    ...(opts.signal ? { signal: opts.signal } : {}),
    ...(opts.progress ? { progress: opts.progress } : {}),
  };
}
