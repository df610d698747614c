/**
 * StartContainer: `<runtime> start ID` lets the created init exec the user's process.
 *
 * @module
 */
import { RuntimeError } from "../../runtime/errors.ts";
import { type ContainerEnv, runRuntime } from "./env.ts";
import type { AgentContainer, ContainerTable } from "./state.ts";

export async function startContainer(
  env: ContainerEnv,
  table: ContainerTable,
  id: string,
): Promise<AgentContainer> {
  const c = table.get(id);
  if (c.phase !== "created") {
    throw new RuntimeError("FailedPrecondition", `Cannot start container "${id}": it is ${c.phase}`);
  }
  await runRuntime(env, ["start", id], `start container "${id}"`);
  c.markStarted();
  env.log.info("container started", { container: id, pid: c.init.pid });
  return c;
}
