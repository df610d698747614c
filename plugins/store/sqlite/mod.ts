/**
 * The sqlite metadata store plugin: one database `store.db` in `config.root` (default
 * `${runDir}/store`); `config.synchronous` is "full" (default) or "normal".
 *
 * @module
 */
import type { MetadataStore, PluginContext, PluginModule } from "../../types.ts";
import { ConfigError } from "../../../runtime/errors.ts";
import { SqliteStore } from "./sqlite_store.ts";
import { manifest } from "./manifest.ts";

export { sqliteErrcode, SqliteStore } from "./sqlite_store.ts";
export type { SqliteStoreOptions } from "./sqlite_store.ts";
export { SCHEMA_VERSION, schemaVersion } from "./_schema.ts";
export { MAX_KEY_LENGTH, MAX_VALUE_BYTES } from "../../../runtime/sys/store_keys.ts";
export { manifest };

/** File name of the database inside the store root. */
export const DB_FILE = "store.db";

function fail(key: string, want: string, got: unknown): ConfigError {
  return new ConfigError(
    "InvalidArgument",
    `Cannot create store plugin "sqlite": key "${key}" must be ${want}: current value is ${
      JSON.stringify(got)
    }`,
  );
}

/** The database path and options from the plugin's config table. */
export function sqliteStoreConfig(
  ctx: Pick<PluginContext, "config" | "runDir">,
): { path: string; synchronous: "full" | "normal" } {
  const root = ctx.config["root"] ?? `${ctx.runDir}/store`;
  if (typeof root !== "string" || !root.startsWith("/")) throw fail("root", "an absolute path", root);
  const sync = ctx.config["synchronous"] ?? "full";
  if (sync !== "full" && sync !== "normal") throw fail("synchronous", '"full" or "normal"', sync);
  return { path: `${root.replace(/\/+$/, "")}/${DB_FILE}`, synchronous: sync };
}

const plugin: PluginModule<"store", MetadataStore> = {
  manifest,
  create(ctx) {
    const { path, synchronous } = sqliteStoreConfig(ctx);
    return SqliteStore.open({
      path,
      synchronous,
      log: ctx.log.child({ subsystem: "store", store: "sqlite" }),
    });
  },
};
export default plugin;
