import type { NetworkBackend, PluginModule } from "../../types.ts";
import { PluginError } from "../../../runtime/errors.ts";
import { hostNetSys } from "../../../runtime/sys/ip_command.ts";
import { manifest } from "./manifest.ts";
import { hostSysfs } from "./sysfs.ts";
import { VfioNetwork } from "./vfio.ts";

/** `[network.vfio] devices = ["0000:3b:02.1"]`: extra PCI addresses to pass through. */
function devicesOf(config: Readonly<Record<string, unknown>>): string[] {
  const d = config["devices"];
  if (d === undefined) return [];
  if (!Array.isArray(d) || !d.every((x) => typeof x === "string")) {
    throw new PluginError(
      "InvalidArgument",
      'Cannot create network plugin "vfio": "devices" must be a list of PCI addresses',
    );
  }
  return d;
}

const plugin: PluginModule<"network", NetworkBackend> = {
  manifest,
  create: (ctx) =>
    Promise.resolve(
      new VfioNetwork(hostNetSys(), hostSysfs(hostNetSys()), ctx.log.child({ subsystem: "network" }), {
        devices: devicesOf(ctx.config),
      }),
    ),
};
export default plugin;
