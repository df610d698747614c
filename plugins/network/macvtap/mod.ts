import type { NetworkBackend, PluginModule } from "../../types.ts";
import { hostNetSys } from "../../../runtime/sys/ip_command.ts";
import { manifest } from "./manifest.ts";
import { MacvtapNetwork } from "./macvtap.ts";

const plugin: PluginModule<"network", NetworkBackend> = {
  manifest,
  create: (ctx) =>
    Promise.resolve(
      new MacvtapNetwork(hostNetSys(), ctx.log.child({ subsystem: "network" }), {
        nodeDir: `${ctx.runDir}/macvtap`,
      }),
    ),
};
export default plugin;
