/**
 * RemoveContainer: `<runtime> delete [--force] ID`, then the agent forgets the container and its
 * processes and drops their stdio.
 *
 * @module
 */
import { RuntimeError } from "../../runtime/errors.ts";
import { type ContainerEnv, runRuntime } from "./env.ts";
import type { ContainerTable } from "./state.ts";

export async function deleteContainer(
  env: ContainerEnv,
  table: ContainerTable,
  id: string,
  opts: { force?: boolean; timeoutMs?: number } = {},
): Promise<void> {
  const c = table.get(id);
  if (c.phase !== "stopped" && c.phase !== "created" && !opts.force) {
    throw new RuntimeError("FailedPrecondition", `Cannot delete container "${id}": it is ${c.phase}`);
  }
  await runRuntime(env, ["delete", ...(opts.force ? ["--force"] : []), id], `delete container "${id}"`);
  if (!c.init.exitStatus) {
    // `delete --force` killed it (a created init dies too): wait for the reaper, bounded.
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      c.init.exited.catch(() => {}),
      new Promise<void>((r) => (timer = setTimeout(r, opts.timeoutMs ?? 5000))),
    ]);
    clearTimeout(timer);
  }
  for (const p of [c.init, ...c.execs.values()]) p.release();
  table.delete(id);
  await env.fs.remove(`${env.stateDir}/${id}.pid`);
  env.log.info("container deleted", { container: id });
}
