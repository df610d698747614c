import { parseArgs } from "node:util";
import { inspectPlugin } from "../../plugins/loader.ts";
import { allowFlags } from "../../plugins/permissions.ts";
import { AGENT_PERMISSIONS, HOST_ALLOW_FLAGS } from "../../permissions.ts";
import type { Command } from "../args.ts";
import type { PluginManifest } from "../../../plugins/types.ts";

export const plugins: Command = {
  summary: "List plugins with their kinds and permissions",
  usage: "cocoon plugins [--json] [--allow-flags [--agent]]",
  async run(args, ctx) {
    const { values } = parseArgs({
      args: [...args],
      options: {
        json: { type: "boolean", default: false },
        "allow-flags": { type: "boolean", default: false },
        agent: { type: "boolean", default: false },
      },
    });
    const reg = await ctx.registry();
    if (values.agent) {
      ctx.print(allowFlags(AGENT_PERMISSIONS).join(" "));
      return 0;
    }
    if (values["allow-flags"]) {
      // What the installed `cocoon` is granted (runtime/permissions.ts says why it is everything).
      ctx.print(HOST_ALLOW_FLAGS.join(" "));
      return 0;
    }
    const rows: { manifest?: PluginManifest; origin: string; kind: string; name: string; error?: string }[] =
      [];
    const seen = new Set<string>();
    for (const ref of reg.values()) {
      if (ref.origin !== "builtin" && seen.has(ref.name)) continue;
      try {
        const manifest = await inspectPlugin(reg, ref.kind, ref.name);
        rows.push({ manifest, origin: ref.origin, kind: ref.kind, name: ref.name });
        seen.add(ref.name);
      } catch (e) {
        if (ref.origin === "builtin") {
          rows.push({ origin: ref.origin, kind: ref.kind, name: ref.name, error: String(e) });
        }
      }
    }
    if (values.json) {
      ctx.print(JSON.stringify(rows, null, 2));
      return 0;
    }
    for (const r of rows) {
      const perms = r.manifest
        ? allowFlags(r.manifest.permissions).join(" ") || "(none)"
        : `error: ${r.error}`;
      ctx.print(
        `${r.kind.padEnd(10)} ${r.name.padEnd(16)} ${r.origin.padEnd(8)} ${r.manifest?.description ?? ""}\n${
          " ".repeat(11)
        }${perms}`,
      );
    }
    return 0;
  },
};
