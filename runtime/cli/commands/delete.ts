import type { Command } from "../args.ts";
import { idArg, lookup, ociEnv, parseVerb, viewState } from "../oci_args.ts";
import { RuntimeError } from "../../errors.ts";
import { deleteOciContainer } from "../../holder/remove.ts";

export const delete_: Command = {
  summary: "Delete a container: its microVM, holder, shares and state (--force: also a running one)",
  usage: "cocoon delete [--force] <container-id>",
  async run(args, ctx) {
    const { values, positionals } = parseVerb("delete", args, { force: { type: "boolean", short: "f" } });
    const id = idArg("delete", positionals);
    const force = values.force === true;
    const env = await ociEnv(ctx);
    const v = await lookup(env, id);
    if (!(v.alive && v.info !== null) && !force && viewState(v).status === "creating") {
      throw new RuntimeError(
        "FailedPrecondition",
        `Cannot delete container "${id}" that is not stopped: it is creating`,
      );
    }
    await deleteOciContainer(
      await env.runtime(),
      { id, paths: v.paths, info: v.info, alive: v.alive, force },
      ctx.log,
    );
    return 0;
  },
};
