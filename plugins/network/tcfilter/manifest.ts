import type { PluginManifest } from "../../types.ts";

export const manifest: PluginManifest<"network"> = {
  kind: "network",
  name: "tcfilter",
  apiVersion: 1,
  description:
    "Tap per netns interface, joined to it with tc ingress filters that redirect both ways (Kata's default)",
  // Every command runs as `nsenter --net=<netns> -- ip|tc ...`; ip and tc are listed for callers
  // that run them directly.
  permissions: { run: ["nsenter", "ip", "tc"] },
  features: ["tap", "tc-mirred"],
};
