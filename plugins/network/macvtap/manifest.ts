import type { PluginManifest } from "../../types.ts";

export const manifest: PluginManifest<"network"> = {
  kind: "network",
  name: "macvtap",
  apiVersion: 1,
  description: "A passthru macvtap on each netns interface; QEMU opens its character device",
  permissions: {
    // `ip` runs in the netns through nsenter; `unshare` gives the sysfs read a private mount;
    // mknod/mkdir/rm manage the character-device nodes under the run directory; cat reads
    // /proc/devices and /proc/cmdline (Deno wants --allow-all to read those itself).
    run: ["nsenter", "ip", "unshare", "mknod", "mkdir", "rm", "cat"],
  },
  features: ["macvtap"],
};
