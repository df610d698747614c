/**
 * The virtio-fs storage plugin (Kata's default shared filesystem).
 *
 * @module
 */
import type { PluginModule, StorageBackend } from "../../types.ts";
import { hostRunner } from "../../../runtime/sys/host_mount.ts";
import { manifest } from "./manifest.ts";
import { parseVirtioFsConfig, VirtioFsStorage } from "./virtio_fs_storage.ts";

export { parseVirtioFsConfig, VirtioFsStorage } from "./virtio_fs_storage.ts";
export type { VirtioFsConfig } from "./virtio_fs_storage.ts";
export {
  DEFAULT_VIRTIOFSD_ROOT,
  findVirtiofsd,
  installVirtiofsd,
  privateArgv,
  probeVirtiofsd,
} from "../../../runtime/sys/virtiofsd.ts";
export type { VirtiofsdCommand } from "../../../runtime/sys/virtiofsd.ts";
export { manifest };

const plugin: PluginModule<"storage", StorageBackend> = {
  manifest,
  create(ctx) {
    return Promise.resolve(
      new VirtioFsStorage({
        runner: hostRunner(),
        log: ctx.log.child({ subsystem: "storage", storage: "virtio-fs" }),
        config: parseVirtioFsConfig(ctx.config),
      }),
    );
  },
};
export default plugin;
