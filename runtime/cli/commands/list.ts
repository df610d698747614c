import { RuntimeError } from "../../errors.ts";
import { ociRoot } from "../../holder/paths.ts";
import { containerId } from "../../ids.ts";
import type { Command } from "../args.ts";
import { lookup, ociEnv, parseVerb, viewState } from "../oci_args.ts";

export const list: Command = {
  summary: "List the containers under the state root",
  usage: "cocoon list [--format table|json] [-q]",
  async run(args, ctx) {
    const { values } = parseVerb("list", args, {
      format: { type: "string", short: "f" },
      quiet: { type: "boolean", short: "q" },
    });
    const format = values.format ?? "table";
    if (format !== "table" && format !== "json") {
      throw new RuntimeError("InvalidArgument", `Invalid --format "${format}": use table or json`);
    }
    const env = await ociEnv(ctx);
    const ids: string[] = [];
    try {
      for await (const e of Deno.readDir(ociRoot(env.stateDir))) if (e.isDirectory) ids.push(e.name);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    ids.sort();
    const states = [];
    for (const name of ids) {
      try {
        states.push(viewState(await lookup(env, containerId(name))));
      } catch (e) {
        ctx.log.debug("skipping entry", { name, error: e });
      }
    }
    if (values.quiet === true) ctx.print(states.map((s) => s.id).join("\n"));
    else if (format === "json") ctx.print(JSON.stringify(states));
    else {
      const rows = [["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]];
      for (const s of states) rows.push([s.id, String(s.pid), s.status, s.bundle, s.created ?? "", "root"]);
      const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
      ctx.print(rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd()).join("\n"));
    }
    return 0;
  },
};
