import type { NetworkBackend, PluginModule } from "../../types.ts";
import { hostNetSys } from "../../../runtime/sys/ip_command.ts";
import { manifest } from "./manifest.ts";
import { BridgeNetwork } from "./bridge.ts";

const plugin: PluginModule<"network", NetworkBackend> = {
  manifest,
  create: (ctx) => Promise.resolve(new BridgeNetwork(hostNetSys(), ctx.log.child({ subsystem: "network" }))),
};
export default plugin;
