import { callHolder } from "../../holder/client.ts";
import type { Command } from "../args.ts";
import { idArg, liveSocket, lookup, ociEnv, parseVerb } from "../oci_args.ts";
import { parseDurationMs } from "../oci_resources.ts";

export const events: Command = {
  summary: "Print a container's stats as JSON events (every --interval, or once with --stats)",
  usage: "cocoon events [--stats] [--interval 5s] <container-id>",
  async run(args, ctx) {
    const { values, positionals } = parseVerb("events", args, {
      stats: { type: "boolean" },
      interval: { type: "string" },
    });
    const id = idArg("events", positionals);
    const everyMs = parseDurationMs(values.interval ?? "5s", "--interval");
    const env = await ociEnv(ctx);
    for (;;) {
      const v = await lookup(env, id);
      if (!v.alive && values.stats !== true) return 0; // the container ended: the event stream ends
      const data = await callHolder(liveSocket(v, "read stats of"), { op: "stats" });
      ctx.print(JSON.stringify({ type: "stats", id, data }));
      if (values.stats === true) return 0;
      await new Promise((r) => setTimeout(r, everyMs));
    }
  },
};
