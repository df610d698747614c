/**
 * `cocoon factory status | destroy` behind the CLI (`init` builds a sandbox-shaped VM config, so it
 * lives with the sandbox: runtime/sandbox/factory_init.ts).
 *
 * @module
 */
import type { FactoryStatus } from "../../plugins/types.ts";
import type { ResolvedConfig } from "../config/schema.ts";
import type { Logger } from "../log/logger.ts";
import { openFactory } from "./factory.ts";

/** What status and destroy need of a runtime. */
export interface FactoryHost {
  readonly config: ResolvedConfig;
  readonly log: Logger;
}

/** Status of the configured factory (templates present, their shape and build time). */
export async function factoryStatus(
  rt: FactoryHost,
): Promise<FactoryStatus> {
  const factory = await openFactory(rt.config, "template", { log: rt.log });
  return await factory.status();
}

/** Removes every template under `[factory] template_path`. */
export async function destroyFactory(
  rt: FactoryHost,
): Promise<void> {
  const factory = await openFactory(rt.config, "template", { log: rt.log });
  await factory.destroy();
}
