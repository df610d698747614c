/**
 * The template factory's identity and the Deno permissions it needs.
 *
 * @module
 */
import type { PluginManifest } from "../../types.ts";

export const manifest: PluginManifest<"factory"> = {
  kind: "factory",
  name: "template",
  apiVersion: 1,
  description: "Clones VMs from a saved template (shared memory file, device state restored)",
  permissions: {
    // mount/umount/mountpoint: a tmpfs per template; stat -f: is the template directory RAM-backed
    run: ["mount", "umount", "mountpoint", "stat"],
    read: ["/run/cocoon", "/var/lib/cocoon", "/tmp"],
    write: ["/run/cocoon", "/var/lib/cocoon", "/tmp"],
  },
  features: ["template"],
};
