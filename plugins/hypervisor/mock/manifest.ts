/**
 * The mock hypervisor's identity: it touches nothing.
 *
 * @module
 */
import type { PluginManifest } from "../../types.ts";

export const manifest: PluginManifest<"hypervisor"> = {
  kind: "hypervisor",
  name: "mock",
  apiVersion: 1,
  description: "In-memory hypervisor for unit tests: records calls and simulates VM states",
  permissions: {},
  features: ["test"],
};
