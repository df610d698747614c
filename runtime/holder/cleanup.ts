/**
 * Removing a container's host state without its holder (the holder is gone, or never got ready):
 * the sandbox (VM, shares, records: the core's forced delete re-attaches to a QEMU that still runs
 * and stops it), any QEMU or virtiofsd of that id no record names, the control socket and the OCI
 * state directory.
 *
 * @module
 */
import { isRuntimeError } from "../errors.ts";
import { type ContainerId, sandboxId } from "../ids.ts";
import type { Logger } from "../log/logger.ts";
import { Sandbox, type SandboxRuntime } from "../sandbox/mod.ts";
import { holderAlive, type HolderInfo } from "./info.ts";
import { cgroupsRecord, type OciPaths } from "./paths.ts";
import { leaveHostCgroup } from "../sys/host_cgroup.ts";
import { removeTree } from "../sys/safe_remove.ts";
import { canonicalPath } from "../sys/canonical_path.ts";
import { hostRunner, unmountAll } from "../sys/host_mount.ts";
import { killStrays } from "../sys/strays.ts";
import { removeOwnVmmCgroups } from "../sys/vmm_cgroup.ts";
import { releaseVmUsersUnder } from "../sys/vm_user.ts";
import { basename } from "node:path";
import { removePodNetns } from "./pod_netns.ts";
import { sandboxDir } from "../sandbox/layout.ts";

export async function removeContainerState(
  rt: SandboxRuntime,
  id: ContainerId,
  paths: OciPaths,
  log: Logger,
): Promise<void> {
  // A holder still creating this container would go on building what is removed here: end it
  // (and whatever it started) first.
  const dir = await canonicalPath(sandboxDir(rt.config.runtime.stateDir, sandboxId(id)));
  const early = await killStrays(id, dir, rt.config.runtime.stateDir);
  if (early.length > 0) log.warn("killed a creating holder and its processes", { pids: early });
  try {
    const sb = await Sandbox.fetch(rt, id, { connect: false });
    await sb.act({ kind: "delete", opts: { force: true } });
  } catch (e) {
    if (!(isRuntimeError(e) && e.code === "NotFound")) throw e;
    log.debug("no sandbox to remove", { container: id });
  }
  // What no record names any more (a create or delete that failed midway, a lost record, a holder
  // still creating): the holder, VM and virtiofsd of this id under this root, then the binds and
  // the directory they used.
  const killed = await killStrays(id, dir, rt.config.runtime.stateDir);
  if (killed.length > 0) log.warn("killed processes of the sandbox that no record named", { pids: killed });
  await removePodNetns(sandboxDir(rt.config.runtime.stateDir, sandboxId(id)));
  const runner = hostRunner();
  await unmountAll(runner, dir, `Cannot clean up sandbox "${id}"`);
  await removeTree(dir, runner);
  await Deno.remove(paths.socket).catch(() => {});
  const cgroups = await readCgroups(paths);
  const busy = [...await leaveHostCgroup(cgroups), ...await removeOwnVmmCgroups(basename(dir))];
  if (busy.length > 0) log.warn("host cgroups still in use after delete", { cgroups: busy });
  await releaseVmUsersUnder(dir);
  await removeTree(paths.dir);
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

async function readCgroups(paths: OciPaths): Promise<string[]> {
  try {
    const x: unknown = JSON.parse(await Deno.readTextFile(cgroupsRecord(paths)));
    return Array.isArray(x)
      ? x.filter((d): d is string => typeof d === "string" && d.startsWith("/sys/fs/cgroup/"))
      : [];
  } catch {
    return [];
  }
}
