import type { PluginManifest } from "../../types.ts";

export const manifest: PluginManifest<"network"> = {
  kind: "network",
  name: "none",
  apiVersion: 1,
  description: "No network: the sandbox gets only a loopback interface",
  permissions: {},
};
