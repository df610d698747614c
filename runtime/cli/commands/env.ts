import { parseArgs } from "node:util";
import { stringify } from "smol-toml";
import { effectiveTree } from "../../config/effective.ts";
import type { Command } from "../args.ts";

export const env: Command = {
  summary: "Print the effective configuration (every default filled in)",
  usage: "cocoon env [--json]",
  async run(args, ctx) {
    const { values } = parseArgs({ args: [...args], options: { json: { type: "boolean", default: false } } });
    const cfg = await ctx.config();
    const tree = effectiveTree(cfg);
    if (values.json) ctx.print(JSON.stringify({ source: cfg.source, config: tree }, null, 2));
    else {
      const from = [cfg.source.file, ...cfg.source.dropIns].join(", ");
      ctx.print(`# Effective Cocoon configuration, from ${from}\n${stringify(tree)}`);
    }
    return 0;
  },
};
