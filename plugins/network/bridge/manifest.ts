import type { PluginManifest } from "../../types.ts";

export const manifest: PluginManifest<"network"> = {
  kind: "network",
  name: "bridge",
  apiVersion: 1,
  description: "Linux bridge per netns interface joining it with a tap for the VM",
  permissions: { run: ["nsenter", "ip", "sysctl"] },
  features: ["tap", "bridge"],
};
