/**
 * UpdateContainer: `<runtime> update --resources=FILE ID` with the OCI `linux.resources` object.
 *
 * @module
 */
import { RuntimeError } from "../../runtime/errors.ts";
import { type ContainerEnv, runRuntime } from "./env.ts";
import type { ContainerTable } from "./state.ts";

export async function updateContainer(
  env: ContainerEnv,
  table: ContainerTable,
  id: string,
  resources: Readonly<Record<string, unknown>>,
): Promise<void> {
  const c = table.get(id);
  if (c.phase === "stopped") {
    throw new RuntimeError("FailedPrecondition", `Cannot update container "${id}": it is stopped`);
  }
  const file = `${env.stateDir}/${id}.resources.json`;
  await env.fs.writeTextFile(file, JSON.stringify(resources));
  try {
    await runRuntime(env, ["update", `--resources=${file}`, id], `update container "${id}"`);
  } finally {
    await env.fs.remove(file);
  }
}
