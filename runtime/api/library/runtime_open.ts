/**
 * Opening the sandbox core for one library call: the configuration (given, or looked up like the
 * CLI does), the caller's hypervisor overrides, and the runtime with its plugins.
 *
 * @module
 */
import { loadConfig, mergeRaw } from "../../config/load.ts";
import { resolveConfig } from "../../config/resolve.ts";
import type { ResolvedConfig } from "../../config/schema.ts";
import { SandboxError } from "../../errors.ts";
import type { PluginRegistry } from "../../plugins/registry.ts";
import type { AgentConnector } from "../../sandbox/agent_port.ts";
import { type InjectedPlugins, openSandboxRuntime, type SandboxRuntime } from "../../sandbox/runtime.ts";
import type { ConnectOptions, SandboxConfig } from "./types.ts";

/**
 * Embedding and test hooks: plugin instances and an agent connector used instead of the real
 * ones. Not part of the documented API (mod.ts does not export it).
 */
export interface LibraryHooks {
  readonly plugins?: InjectedPlugins;
  readonly connectAgent?: AgentConnector;
  readonly registry?: PluginRegistry;
}

/** The configuration named by `opts`, with the overrides of a {@link SandboxConfig}. */
export async function libraryConfig(opts: ConnectOptions & Partial<SandboxConfig>): Promise<ResolvedConfig> {
  const base = opts.config ??
    await loadConfig(opts.configPath !== undefined ? { path: opts.configPath } : {});
  const over: Record<string, unknown> = { ...opts.hypervisor };
  if (opts.vcpus !== undefined) over["default_vcpus"] = positive(opts.vcpus, "vcpus");
  if (opts.memoryMiB !== undefined) over["default_memory"] = positive(opts.memoryMiB, "memoryMiB");
  if (Object.keys(over).length === 0) return base;
  const raw = mergeRaw(base.raw, { hypervisor: { [base.hypervisor.name]: over } });
  return resolveConfig(raw, { file: base.source.file, dropIns: base.source.dropIns });
}

function positive(n: number, what: string): number {
  if (!Number.isInteger(n) || n < 1) {
    throw new SandboxError("InvalidArgument", `Invalid ${what} "${n}": expected a positive whole number`);
  }
  return n;
}

/** The sandbox core runtime for `opts`. */
export async function openLibraryRuntime(
  opts: ConnectOptions & Partial<SandboxConfig>,
  hooks: LibraryHooks = {},
): Promise<SandboxRuntime> {
  const cfg = await libraryConfig(opts);
  return await openSandboxRuntime(cfg, {
    ...(opts.log !== undefined ? { log: opts.log } : {}),
    ...(hooks.plugins !== undefined ? { plugins: hooks.plugins } : {}),
    ...(hooks.connectAgent !== undefined ? { connectAgent: hooks.connectAgent } : {}),
    ...(hooks.registry !== undefined ? { registry: hooks.registry } : {}),
  });
}
