/**
 * The fs metadata store plugin: records as JSON files under `config.root` (default
 * `${runDir}/store`).
 *
 * @module
 */
import type { MetadataStore, PluginContext, PluginModule } from "../../types.ts";
import { ConfigError } from "../../../runtime/errors.ts";
import { FsStore } from "./fs_store.ts";
import { manifest } from "./manifest.ts";

export { FsStore, RECORD_FILE, TEMP_PREFIX } from "./fs_store.ts";
export type { FsStoreOptions } from "./fs_store.ts";
export { MAX_KEY_LENGTH, MAX_VALUE_BYTES } from "../../../runtime/sys/store_keys.ts";
export { manifest };

/** The store root from the plugin's config table: `root` (absolute path), else `${runDir}/store`. */
export function fsStoreRoot(ctx: Pick<PluginContext, "config" | "runDir">): string {
  const root = ctx.config["root"];
  if (root === undefined) return `${ctx.runDir}/store`;
  if (typeof root !== "string" || !root.startsWith("/")) {
    throw new ConfigError(
      "InvalidArgument",
      `Cannot create store plugin "fs": key "root" must be an absolute path: current value is ${
        JSON.stringify(root)
      }`,
    );
  }
  return root;
}

const plugin: PluginModule<"store", MetadataStore> = {
  manifest,
  create(ctx) {
    return FsStore.open({ root: fsStoreRoot(ctx), log: ctx.log.child({ subsystem: "store", store: "fs" }) });
  },
};
export default plugin;
