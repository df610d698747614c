/**
 * PauseContainer / ResumeContainer: `<runtime> pause|resume ID` (cgroup freezer: v2 `cgroup.freeze`,
 * v1 `freezer.state`).
 *
 * @module
 */
import { RuntimeError } from "../../runtime/errors.ts";
import { type ContainerEnv, runRuntime } from "./env.ts";
import type { ContainerTable } from "./state.ts";

export async function pauseContainer(env: ContainerEnv, table: ContainerTable, id: string): Promise<void> {
  const c = table.get(id);
  if (c.phase !== "running") {
    throw new RuntimeError("FailedPrecondition", `Cannot pause container "${id}": it is ${c.phase}`);
  }
  await runRuntime(env, ["pause", id], `pause container "${id}"`);
  c.markPaused(true);
}

export async function resumeContainer(env: ContainerEnv, table: ContainerTable, id: string): Promise<void> {
  const c = table.get(id);
  if (c.phase !== "paused") {
    throw new RuntimeError("FailedPrecondition", `Cannot resume container "${id}": it is ${c.phase}`);
  }
  await runRuntime(env, ["resume", id], `resume container "${id}"`);
  c.markPaused(false);
}
