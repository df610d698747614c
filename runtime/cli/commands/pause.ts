import { callHolder } from "../../holder/client.ts";
import type { Command } from "../args.ts";
import { idArg, liveSocket, lookup, ociEnv, parseVerb } from "../oci_args.ts";

export const pause: Command = {
  summary: "Freeze every process of a container",
  usage: "cocoon pause <container-id>",
  async run(args, ctx) {
    const id = idArg("pause", parseVerb("pause", args, {}).positionals);
    await callHolder(liveSocket(await lookup(await ociEnv(ctx), id), "pause"), { op: "pause" });
    return 0;
  },
};

export const resume: Command = {
  summary: "Thaw a paused container",
  usage: "cocoon resume <container-id>",
  async run(args, ctx) {
    const id = idArg("resume", parseVerb("resume", args, {}).positionals);
    await callHolder(liveSocket(await lookup(await ociEnv(ctx), id), "resume"), { op: "resume" });
    return 0;
  },
};
