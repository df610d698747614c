/**
 * The `new` VM factory plugin.
 *
 * @module
 */
import type { FactoryBackend, PluginModule } from "../../types.ts";
import { manifest } from "./manifest.ts";
import { createNewFactory } from "./new_factory.ts";

export { createNewFactory } from "./new_factory.ts";
export { manifest };

const plugin: PluginModule<"factory", FactoryBackend> = {
  manifest,
  create: () => Promise.resolve(createNewFactory()),
};
export default plugin;
