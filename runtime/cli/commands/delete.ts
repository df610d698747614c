import { isRuntimeError } from "../../errors.ts";
import { callHolder } from "../../holder/client.ts";
import { removeContainerState, waitHolderGone } from "../../holder/cleanup.ts";
import type { Command } from "../args.ts";
import { idArg, lookup, ociEnv, parseVerb, viewState } from "../oci_args.ts";
import { RuntimeError } from "../../errors.ts";

export const delete_: Command = {
  summary: "Delete a container: its microVM, holder, shares and state (--force: also a running one)",
  usage: "cocoon delete [--force] <container-id>",
  async run(args, ctx) {
    const { values, positionals } = parseVerb("delete", args, { force: { type: "boolean", short: "f" } });
    const id = idArg("delete", positionals);
    const force = values.force === true;
    const env = await ociEnv(ctx);
    const v = await lookup(env, id);
    if (v.alive && v.info !== null) {
      try {
        await callHolder(v.info.socket, { op: "delete", force }, { timeoutMs: 60_000 });
      } catch (e) {
        // A refusal (running, no --force) stands; a holder that cannot answer is killed with --force.
        if (!force || (isRuntimeError(e) && e.code === "FailedPrecondition")) throw e;
        ctx.log.warn("holder did not answer delete, killing it", { error: e });
      }
      if (!await waitHolderGone(v.info, 10_000, force)) {
        throw new RuntimeError(
          "DeadlineExceeded",
          `Cannot delete container "${id}": its holder ${v.info.pid} still runs`,
        );
      }
    } else if (!force && viewState(v).status === "creating") {
      throw new RuntimeError(
        "FailedPrecondition",
        `Cannot delete container "${id}" that is not stopped: it is creating`,
      );
    }
    await removeContainerState(await env.runtime(), id, v.paths, ctx.log);
    return 0;
  },
};
