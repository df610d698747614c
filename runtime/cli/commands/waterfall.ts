import { parseArgs } from "node:util";
import { resolve } from "node:path";
import type { Command } from "../args.ts";
import { measureWaterfall } from "../../waterfall/run.ts";
import { formatWaterfall } from "../../waterfall/timeline.ts";

export const waterfall: Command = {
  summary: "Start one pod and show where its start-up time goes, host and guest on one time line",
  usage: "cocoon waterfall [--rootfs DIR] [--json]\n" +
    "  Starts a sandbox under the configuration (--config: cold boot, or a template clone when\n" +
    "  [factory] enable_template is on), runs `echo` in a busybox container (or in --rootfs DIR),\n" +
    "  times each step until its output reaches the host, then deletes the pod.",
  async run(args, ctx) {
    const { values } = parseArgs({
      args: [...args],
      options: { rootfs: { type: "string" }, json: { type: "boolean", default: false } },
    });
    const config = await ctx.config();
    const r = await measureWaterfall({
      config,
      ...(values.rootfs !== undefined ? { rootfs: resolve(values.rootfs) } : {}),
    });
    if (values.json) {
      ctx.print(JSON.stringify({ totalMs: r.totalMs, rows: r.rows }, null, 2));
    } else {
      const mode = config.factory.enableTemplate ? "template clone" : "cold boot";
      ctx.print(`${mode}: first output after ${r.totalMs} ms\n${formatWaterfall(r.rows)}`);
    }
    return 0;
  },
};
