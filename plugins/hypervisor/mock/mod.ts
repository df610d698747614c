/**
 * The mock hypervisor plugin, for unit tests.
 *
 * @module
 */
import type { Hypervisor, PluginModule } from "../../types.ts";
import { manifest } from "./manifest.ts";
import { MockHypervisor } from "./mock.ts";

export { MockHypervisor, MockVm } from "./mock.ts";
export type { MockCall, MockHypervisorOptions, MockVmStatus } from "./mock.ts";
export { manifest };

const plugin: PluginModule<"hypervisor", Hypervisor> = {
  manifest,
  create() {
    return Promise.resolve(new MockHypervisor());
  },
};
export default plugin;
