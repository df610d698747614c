/**
 * SignalProcess: the init process through `<runtime> kill [--all] ID SIG`; an exec process by pid
 * (it is our child, reparented after `exec --detach`), and only while its exit is not yet reaped,
 * so a recycled pid is never signalled.
 *
 * @module
 */
import { RuntimeError } from "../../runtime/errors.ts";
import { type ContainerEnv, runRuntime } from "./env.ts";
import type { ContainerTable } from "./state.ts";

export interface KillArgs {
  readonly containerId: string;
  /** "" (or the container id) for the init process. */
  readonly execId: string;
  readonly signal: number;
  /** Signal every process of the container (init only). */
  readonly all?: boolean;
}

export async function killProcess(env: ContainerEnv, table: ContainerTable, a: KillArgs): Promise<void> {
  if (!Number.isInteger(a.signal) || a.signal < 1 || a.signal > 64) {
    throw new RuntimeError("InvalidArgument", `Cannot send signal ${a.signal}: expected 1 to 64`);
  }
  const c = table.get(a.containerId);
  const p = c.process(a.execId);
  if (p.exitStatus) {
    if (a.all && p === c.init) return;
    throw new RuntimeError("NotFound", `Cannot signal process "${a.execId || a.containerId}": it has exited`);
  }
  if (p === c.init) {
    await runRuntime(
      env,
      ["kill", ...(a.all ? ["--all"] : []), c.id, String(a.signal)],
      `send signal ${a.signal} to container "${c.id}"`,
    );
    return;
  }
  if (!env.signal(p.pid, a.signal)) {
    throw new RuntimeError("NotFound", `Cannot signal process "${a.execId}": pid ${p.pid} is gone`);
  }
}
