/**
 * The virtio-fs storage plugin's identity and the Deno permissions it needs.
 *
 * @module
 */
import type { PluginManifest } from "../../types.ts";

/** Where sandbox shared directories and the private virtiofsd install live. */
export const SHARE_DIRS: readonly string[] = ["/run/cocoon", "/var/lib/cocoon", "/var/cache/cocoon", "/tmp"];

export const manifest: PluginManifest<"storage"> = {
  kind: "storage",
  name: "virtio-fs",
  apiVersion: 1,
  description: "Directories shared with the guest over virtio-fs (QEMU vhost-user-fs + virtiofsd)",
  permissions: {
    // sh starts virtiofsd (detached, output to a log file) and probes it; mount/umount/cat as 9p;
    // apt-get and dpkg-deb install a private virtiofsd (installVirtiofsd)
    run: ["sh", "mount", "umount", "cat", "apt-get", "dpkg-deb"],
    read: true,
    write: [...SHARE_DIRS],
  },
  features: ["share-fs", "bind", "rootfs-dir", "dax-capable"],
};
