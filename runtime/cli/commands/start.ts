import { callHolder } from "../../holder/client.ts";
import type { Command } from "../args.ts";
import { idArg, liveSocket, lookup, ociEnv, parseVerb } from "../oci_args.ts";

export const start: Command = {
  summary: "Start a created container's process",
  usage: "cocoon start <container-id>",
  async run(args, ctx) {
    const { positionals } = parseVerb("start", args, {});
    const id = idArg("start", positionals);
    const v = await lookup(await ociEnv(ctx), id);
    await callHolder(liveSocket(v, "start"), { op: "start" });
    return 0;
  },
};
