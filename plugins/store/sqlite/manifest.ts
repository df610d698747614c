/**
 * The sqlite store plugin's identity and the Deno permissions it needs.
 *
 * @module
 */
import type { PluginManifest } from "../../types.ts";

/**
 * Directories the database may live under. Manifests are static, so they name the default state
 * roots (`/run/cocoon` for `runDir`, `/var/lib/cocoon` for persistent state) and `/tmp` for tests.
 * SQLite opens its `-wal` and `-shm` files beside the database itself.
 */
const SQLITE_STORE_DIRS: readonly string[] = ["/run/cocoon", "/var/lib/cocoon", "/tmp"];

export const manifest: PluginManifest<"store"> = {
  kind: "store",
  name: "sqlite",
  apiVersion: 1,
  description:
    "Metadata store in one SQLite database (node:sqlite, WAL, synchronous=FULL), shared by processes",
  permissions: {
    read: [...SQLITE_STORE_DIRS],
    write: [...SQLITE_STORE_DIRS],
  },
  features: ["wal", "multi-process", "schema-migrations"],
};
