import type { NetworkBackend, PluginModule } from "../../types.ts";
import { manifest } from "./manifest.ts";
import { NoNetwork } from "./none.ts";

const plugin: PluginModule<"network", NetworkBackend> = {
  manifest,
  create: () => Promise.resolve(new NoNetwork()),
};
export default plugin;
