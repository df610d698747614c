import type { Command } from "../args.ts";
import { idArg, lookup, ociEnv, parseVerb, viewState } from "../oci_args.ts";

export const state: Command = {
  summary: "Print a container's OCI state as JSON",
  usage: "cocoon state <container-id>",
  async run(args, ctx) {
    const { positionals } = parseVerb("state", args, {});
    const id = idArg("state", positionals);
    const v = await lookup(await ociEnv(ctx), id);
    ctx.print(JSON.stringify(viewState(v), null, 2));
    return 0;
  },
};
