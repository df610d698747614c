/**
 * The QEMU hypervisor plugin.
 *
 * @module
 */
import type { Hypervisor, PluginModule } from "../../types.ts";
import { parseQemuConfig } from "./config.ts";
import { createQemuHypervisor } from "./hypervisor.ts";
import { manifest } from "./manifest.ts";

export { detectAccelerator } from "./detect.ts";
export type { AcceleratorChoice } from "./detect.ts";
export { DEFAULT_QEMU_CONFIG, parseQemuConfig } from "./config.ts";
export type { QemuConfig } from "./config.ts";
export { createQemuHypervisor } from "./hypervisor.ts";
export { QmpClient, QmpError } from "./qmp.ts";
export type { QmpEvent } from "./qmp.ts";
export { QemuVm } from "./qemu.ts";
export { manifest };

const plugin: PluginModule<"hypervisor", Hypervisor> = {
  manifest,
  create(ctx) {
    try {
      return Promise.resolve(createQemuHypervisor({ config: parseQemuConfig(ctx.config), log: ctx.log }));
    } catch (e) {
      return Promise.reject(e);
    }
  },
};
export default plugin;
