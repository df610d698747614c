/**
 * The fs store plugin's identity and the Deno permissions it needs.
 *
 * @module
 */
import type { PluginManifest } from "../../types.ts";

/**
 * Directories a store root may live under. Manifests are static, so they name the default state
 * roots (`/run/cocoon` for `runDir`, `/var/lib/cocoon` for persistent state) and `/tmp` for tests.
 */
const FS_STORE_DIRS: readonly string[] = ["/run/cocoon", "/var/lib/cocoon", "/tmp"];

export const manifest: PluginManifest<"store"> = {
  kind: "store",
  name: "fs",
  apiVersion: 1,
  description: "Metadata store of JSON files, one directory per key, written atomically with fsync",
  permissions: {
    read: [...FS_STORE_DIRS],
    write: [...FS_STORE_DIRS],
  },
  features: ["atomic-rename", "fsync", "multi-process"],
};
