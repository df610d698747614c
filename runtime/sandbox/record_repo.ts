/**
 * The sandbox and container records alone: the metadata store plugin and nothing else of the
 * sandbox runtime (no hypervisor plugin, agent client or protobuf code), for the CLI verbs that
 * only read state. A runc-style verb is a process of its own each time, and loading the runtime
 * was most of `cocoon state`'s time.
 *
 * @module
 */
import type { ResolvedConfig } from "../config/schema.ts";
import { type Logger, rootLog } from "../log/logger.ts";
import { loadPlugin } from "../plugins/loader.ts";
import { createRegistry, type PluginRegistry } from "../plugins/registry.ts";
import { SandboxRepo } from "./persist.ts";

/** Opens the configured metadata store (`[runtime] store`) as a record repository. */
export async function openRecordRepo(
  cfg: ResolvedConfig,
  opts: { log?: Logger; registry?: PluginRegistry } = {},
): Promise<SandboxRepo> {
  const log = (opts.log ?? rootLog()).child({ subsystem: "store" });
  const registry = opts.registry ?? createRegistry(cfg.plugins.paths, cfg.plugins.integrity);
  const store = await loadPlugin(registry, "store", cfg.runtime.store, {
    log,
    config: {},
    runDir: cfg.runtime.stateDir,
  });
  return new SandboxRepo(store.instance);
}
