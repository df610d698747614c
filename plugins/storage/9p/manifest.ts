/**
 * The 9p storage plugin's identity and the Deno permissions it needs.
 *
 * @module
 */
import type { PluginManifest } from "../../types.ts";

/** Where sandbox shared directories live (runtime.state_dir defaults and tests' temp dirs). */
export const SHARE_DIRS: readonly string[] = ["/run/cocoon", "/var/lib/cocoon", "/tmp"];

export const manifest: PluginManifest<"storage"> = {
  kind: "storage",
  name: "9p",
  apiVersion: 1,
  description: "Directories (rootfs, bind mounts) shared with the guest over QEMU virtio-9p",
  permissions: {
    // mount --rbind / umount of shared sources into the sandbox's shared directory; cat reads
    // /proc/self/mountinfo (Deno grants /proc mount tables only with --allow-all)
    run: ["mount", "umount", "cat"],
    // any source directory may be shared
    read: true,
    write: [...SHARE_DIRS],
  },
  features: ["share-fs", "bind", "rootfs-dir"],
};
