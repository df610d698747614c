import { callHolder } from "../../holder/client.ts";
import { RuntimeError } from "../../errors.ts";
import type { Command } from "../args.ts";
import { idArg, liveSocket, lookup, ociEnv, parseVerb } from "../oci_args.ts";

export const ps: Command = {
  summary: "List a container's processes (guest pids)",
  usage: "cocoon ps [--format table|json] <container-id>",
  async run(args, ctx) {
    const { values, positionals } = parseVerb("ps", args, { format: { type: "string", short: "f" } });
    const id = idArg("ps", positionals);
    const format = values.format ?? "table";
    if (format !== "table" && format !== "json") {
      throw new RuntimeError("InvalidArgument", `Invalid --format "${format}": use table or json`);
    }
    const v = await lookup(await ociEnv(ctx), id);
    const r = await callHolder(liveSocket(v, "list processes of"), { op: "ps" });
    const procs = Array.isArray(r)
      ? r.flatMap((p) =>
        typeof p === "object" && p !== null && "pid" in p && typeof p.pid === "number"
          ? [{ pid: p.pid, execId: "execId" in p && typeof p.execId === "string" ? p.execId : "" }]
          : []
      )
      : [];
    if (format === "json") ctx.print(JSON.stringify(procs.map((p) => p.pid)));
    else {ctx.print([
        "PID\tPROCESS",
        ...procs.map((p) => `${p.pid}\t${p.execId === "" ? "init" : p.execId}`),
      ].join("\n"));}
    return 0;
  },
};
