/**
 * Removing a container's host state without its holder (the holder is gone, or never got ready):
 * the sandbox (VM, shares, records: the core's forced delete re-attaches to a QEMU that still runs
 * and stops it), the control socket and the OCI state directory.
 *
 * @module
 */
import { isRuntimeError } from "../errors.ts";
import type { ContainerId } from "../ids.ts";
import type { Logger } from "../log/logger.ts";
import { Sandbox, type SandboxRuntime } from "../sandbox/mod.ts";
import { holderAlive, type HolderInfo } from "./info.ts";
import type { OciPaths } from "./paths.ts";

export async function removeContainerState(
  rt: SandboxRuntime,
  id: ContainerId,
  paths: OciPaths,
  log: Logger,
): Promise<void> {
  try {
    const sb = await Sandbox.fetch(rt, id, { connect: false });
    await sb.delete({ force: true });
  } catch (e) {
    if (!(isRuntimeError(e) && e.code === "NotFound")) throw e;
    log.debug("no sandbox to remove", { container: id });
  }
  await Deno.remove(paths.socket).catch(() => {});
  await Deno.remove(paths.dir, { recursive: true }).catch((e) => {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  });
}

/** Waits up to `ms` for the holder to end; then, when `kill`, SIGKILLs it (pid and start time checked). */
export async function waitHolderGone(info: HolderInfo, ms: number, kill: boolean): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!await holderAlive(info)) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  if (!kill) return false;
  if (await holderAlive(info)) {
    try {
      Deno.kill(info.pid, "SIGKILL");
    } catch { /* gone */ }
  }
  for (let i = 0; i < 100 && await holderAlive(info); i++) await new Promise((r) => setTimeout(r, 20));
  return !await holderAlive(info);
}
