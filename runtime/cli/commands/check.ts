import { parseArgs } from "node:util";
import { renderCheckTable, runHostCheck } from "../../check/check.ts";
import type { Command } from "../args.ts";

export const check: Command = {
  summary: "Probe the host: hypervisor, accelerator, vsock, networking, cgroups, guest image",
  usage: "cocoon check [--json]",
  async run(args, ctx) {
    const { values } = parseArgs({ args: [...args], options: { json: { type: "boolean", default: false } } });
    const report = await runHostCheck(await ctx.config(), { registry: await ctx.registry(), log: ctx.log });
    ctx.print(values.json ? JSON.stringify(report, null, 2) : renderCheckTable(report));
    return report.ok ? 0 : 1;
  },
};
