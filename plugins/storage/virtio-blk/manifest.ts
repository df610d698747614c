/**
 * The virtio-blk storage plugin's identity and the Deno permissions it needs.
 *
 * @module
 */
import type { PluginManifest } from "../../types.ts";

export const manifest: PluginManifest<"storage"> = {
  kind: "storage",
  name: "virtio-blk",
  apiVersion: 1,
  description:
    "Block devices and image files (rootfs or volumes) hot-plugged into the VM as virtio-blk disks",
  permissions: {
    // stat of the device or image file; the VM's hotplug does the rest
    read: true,
  },
  features: ["block", "rootfs-image", "hotplug"],
};
