/**
 * `cocoon factory init | status | destroy`: VM templates ahead of time.
 *
 * @module
 */
import { parseArgs } from "node:util";
import type { FactoryStatus } from "../../../plugins/types.ts";
import { RuntimeError } from "../../errors.ts";
import { destroyFactory, factoryStatus, initFactory } from "../../factory/init.ts";
import { openSandboxRuntime } from "../../sandbox/runtime.ts";
import type { Command } from "../args.ts";

const USAGE = `cocoon factory init [--json]     build the VM template of this configuration's sandbox shape
cocoon factory status [--json]   list templates under [factory] template_path
cocoon factory destroy           remove every template (and its tmpfs)`;

function format(s: FactoryStatus, templatesOn: boolean): string {
  const head = `factory: ${templatesOn ? "template" : "new (enable_template = false)"}`;
  if (s.items.length === 0) return `${head}\n  no templates`;
  return [head, ...s.items.map((i) => `  ${i.name}  ${i.state}${i.detail ? `  ${i.detail}` : ""}`)].join(
    "\n",
  );
}

export const factory: Command = {
  summary: "Build, list or remove VM templates ([factory] in the configuration)",
  usage: USAGE,
  async run(args, ctx) {
    const [sub, ...rest] = args;
    const { values } = parseArgs({ args: rest, options: { json: { type: "boolean", default: false } } });
    const cfg = await ctx.config();
    if (sub === "init") {
      if (!cfg.factory.enableTemplate) {
        ctx.printErr("templates are off: set [factory] enable_template = true to use them");
      }
      if (cfg.factory.vmCacheNumber > 0) {
        ctx.printErr(
          `vm_cache_number = ${cfg.factory.vmCacheNumber}: the VM cache is not implemented yet, ignored`,
        );
      }
      const rt = await openSandboxRuntime(cfg, { registry: await ctx.registry(), log: ctx.log });
      const t0 = performance.now();
      const s = await initFactory(rt, {
        progress: (p) =>
          ctx.printErr(`[${(p.elapsedMs / 1000).toFixed(1)}s] ${p.step}${p.detail ? `: ${p.detail}` : ""}`),
      });
      ctx.print(values.json ? JSON.stringify(s, null, 2) : format(s, cfg.factory.enableTemplate));
      ctx.printErr(`done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      return 0;
    }
    if (sub === "status") {
      const s = await factoryStatus({ config: cfg, log: ctx.log });
      ctx.print(values.json ? JSON.stringify(s, null, 2) : format(s, cfg.factory.enableTemplate));
      return 0;
    }
    if (sub === "destroy") {
      await destroyFactory({ config: cfg, log: ctx.log });
      ctx.print(`removed templates under ${cfg.factory.templatePath}`);
      return 0;
    }
    throw new RuntimeError(
      "InvalidArgument",
      `Unknown factory subcommand "${sub ?? ""}": use init, status or destroy`,
    );
  },
};
