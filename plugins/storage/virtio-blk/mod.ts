/**
 * The virtio-blk storage plugin.
 *
 * @module
 */
import type { PluginModule, StorageBackend } from "../../types.ts";
import { manifest } from "./manifest.ts";
import { VirtioBlkStorage } from "./virtio_blk_storage.ts";

export { blockDeviceId, PCI_SYSFS, VirtioBlkStorage } from "./virtio_blk_storage.ts";
export { manifest };

const plugin: PluginModule<"storage", StorageBackend> = {
  manifest,
  create(ctx) {
    return Promise.resolve(
      new VirtioBlkStorage({ log: ctx.log.child({ subsystem: "storage", storage: "virtio-blk" }) }),
    );
  },
};
export default plugin;
