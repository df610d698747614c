/**
 * The 9p storage plugin: the default for directory rootfs and bind mounts.
 *
 * @module
 */
import type { PluginModule, StorageBackend } from "../../types.ts";
import { hostRunner } from "../../../runtime/sys/host_mount.ts";
import { manifest } from "./manifest.ts";
import { NinePStorage, parseNinePConfig } from "./nine_p_storage.ts";

export { DEFAULT_MSIZE, NinePStorage } from "./nine_p_storage.ts";
export { manifest };

const plugin: PluginModule<"storage", StorageBackend> = {
  manifest,
  create(ctx) {
    const { msize } = parseNinePConfig(ctx.config);
    return Promise.resolve(
      new NinePStorage({
        runner: hostRunner(),
        log: ctx.log.child({ subsystem: "storage", storage: "9p" }),
        msize,
      }),
    );
  },
};
export default plugin;
