import { isRuntimeError } from "../../errors.ts";
import { callHolder } from "../../holder/client.ts";
import { removeContainerState, waitHolderGone } from "../../holder/cleanup.ts";
import type { Command } from "../args.ts";
import { idArg, lookup, ociEnv, parseVerb, viewState } from "../oci_args.ts";
import { RuntimeError } from "../../errors.ts";
import { hooksOf, type OciHooks, runHooks } from "../../oci/hooks.ts";
import { loadBundle } from "../../oci/bundle.ts";
import type { Logger } from "../../log/logger.ts";

export const delete_: Command = {
  summary: "Delete a container: its microVM, holder, shares and state (--force: also a running one)",
  usage: "cocoon delete [--force] <container-id>",
  async run(args, ctx) {
    const { values, positionals } = parseVerb("delete", args, { force: { type: "boolean", short: "f" } });
    const id = idArg("delete", positionals);
    const force = values.force === true;
    const env = await ociEnv(ctx);
    const v = await lookup(env, id);
    let endedMeanwhile = false;
    if (v.alive && v.info !== null) {
      try {
        await callHolder(v.info.socket, { op: "delete", force }, { timeoutMs: 60_000 });
      } catch (e) {
        // A refusal (running, no --force) stands; a holder that cannot answer is killed with --force.
        if (isRuntimeError(e) && e.code === "FailedPrecondition") throw e;
        if (force) ctx.log.warn("holder did not answer delete, killing it", { error: e });
        else if (
          isRuntimeError(e) && e.code === "Unavailable" && await waitHolderGone(v.info, 10_000, false)
        ) {
          // its container had exited and it was ending on its own: what it would have done is done here
          endedMeanwhile = true;
        } else throw e;
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
    // A holder that was gone (its container had exited) could not run the poststop hooks itself.
    if ((!v.alive || endedMeanwhile) && v.info !== null) await runPoststop(id, v.info.bundle, ctx.log);
    return 0;
  },
};

/** The bundle's poststop hooks, after the container is gone (failures are logged, as the spec says). */
async function runPoststop(id: string, bundleDir: string, log: Logger): Promise<void> {
  let hooks: OciHooks;
  let annotations: Readonly<Record<string, string>> = {};
  try {
    const bundle = await loadBundle(bundleDir);
    hooks = hooksOf(bundle.spec.raw);
    annotations = bundle.spec.annotations;
  } catch (e) {
    log.debug("no poststop hooks to run", { error: e });
    return;
  }
  const state = {
    ociVersion: "1.0.2",
    id,
    status: "stopped" as const,
    pid: 0,
    bundle: bundleDir,
    annotations,
  };
  await runHooks("poststop", hooks, state, log);
}
