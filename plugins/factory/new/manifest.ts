/**
 * The `new` factory's identity: it needs nothing beyond the hypervisor it is given.
 *
 * @module
 */
import type { PluginManifest } from "../../types.ts";

export const manifest: PluginManifest<"factory"> = {
  kind: "factory",
  name: "new",
  apiVersion: 1,
  description: "Boots every VM from scratch",
  permissions: {},
};
