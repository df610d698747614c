import { callHolder } from "../../holder/client.ts";
import { parseSignal } from "../../sandbox/mod.ts";
import type { Command } from "../args.ts";
import { idArg, liveSocket, lookup, ociEnv, parseVerb } from "../oci_args.ts";

export const kill: Command = {
  summary: "Send a signal to a container's process (TERM by default; names or numbers)",
  usage: "cocoon kill [--all] <container-id> [signal]",
  async run(args, ctx) {
    const { values, positionals } = parseVerb("kill", args, { all: { type: "boolean", short: "a" } });
    const id = idArg("kill", positionals);
    const signal = parseSignal(positionals[1] ?? "SIGTERM");
    const v = await lookup(await ociEnv(ctx), id);
    await callHolder(liveSocket(v, "kill"), { op: "kill", signal, all: values.all === true });
    return 0;
  },
};
