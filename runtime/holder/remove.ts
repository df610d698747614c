/**
 * Deleting an OCI container, for every front door that does it (`cocoon delete`, the management
 * API): the holder removes its sandbox and exits (a holder that cannot answer is killed with
 * `force`), then the host state goes (cleanup.ts), and when the holder had ended on its own
 * before it could, the bundle's poststop hooks run here.
 *
 * @module
 */
import { isRuntimeError, RuntimeError } from "../errors.ts";
import type { ContainerId } from "../ids.ts";
import type { Logger } from "../log/logger.ts";
import { loadBundle } from "../oci/bundle.ts";
import { hooksOf, type OciHooks, runHooks } from "../oci/hooks.ts";
import type { SandboxRuntime } from "../sandbox/runtime.ts";
import { removeContainerState, waitHolderGone } from "./cleanup.ts";
import { callHolder } from "./client.ts";
import type { HolderInfo } from "./info.ts";
import type { OciPaths } from "./paths.ts";

export interface OciDelete {
  readonly id: ContainerId;
  readonly paths: OciPaths;
  /** The holder's info file, when there is one. */
  readonly info: HolderInfo | null;
  /** Whether that holder runs. */
  readonly alive: boolean;
  readonly force: boolean;
}

/** Deletes the container. @throws {RuntimeError} the holder's refusal (running without force). */
export async function deleteOciContainer(rt: SandboxRuntime, d: OciDelete, log: Logger): Promise<void> {
  let endedMeanwhile = false;
  if (d.alive && d.info !== null) {
    try {
      await callHolder(d.info.socket, { op: "delete", force: d.force }, { timeoutMs: 60_000 });
    } catch (e) {
      // A refusal (running, no force) stands; a holder that cannot answer is killed with force.
      if (isRuntimeError(e) && e.code === "FailedPrecondition") throw e;
      if (d.force) log.warn("holder did not answer delete, killing it", { container: d.id, error: e });
      else if (isRuntimeError(e) && e.code === "Unavailable" && await waitHolderGone(d.info, 10_000, false)) {
        // its container had exited and it was ending on its own: what it would have done is done here
        endedMeanwhile = true;
      } else throw e;
    }
    if (!await waitHolderGone(d.info, 10_000, d.force)) {
      throw new RuntimeError(
        "DeadlineExceeded",
        `Cannot delete container "${d.id}": its holder ${d.info.pid} still runs`,
      );
    }
  }
  await removeContainerState(rt, d.id, d.paths, log);
  // A holder that was gone (its container had exited) could not run the poststop hooks itself.
  if ((!d.alive || endedMeanwhile) && d.info !== null) await runPoststop(d.id, d.info.bundle, log);
}

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
