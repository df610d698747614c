/**
 * Container status: the agent's own phase plus `<runtime> state ID` (validated JSON).
 *
 * @module
 */
import { RuntimeError } from "../../runtime/errors.ts";
import { type ContainerEnv, runRuntime } from "../container/env.ts";
import type { ContainerPhase, ContainerTable } from "../container/state.ts";

export interface RuntimeState {
  readonly id: string;
  readonly pid: number;
  readonly status: string;
  readonly bundle: string;
}

export interface ContainerStatus {
  readonly id: string;
  readonly phase: ContainerPhase;
  readonly pid: number;
  readonly exitCode?: number;
  readonly runtime?: RuntimeState;
}

export async function containerStatus(
  env: ContainerEnv,
  table: ContainerTable,
  id: string,
  opts: { queryRuntime?: boolean } = {},
): Promise<ContainerStatus> {
  const c = table.get(id);
  const base = {
    id,
    phase: c.phase,
    pid: c.init.pid,
    ...(c.init.exitCode !== undefined ? { exitCode: c.init.exitCode } : {}),
  };
  if (!opts.queryRuntime) return base;
  const out = await runRuntime(env, ["state", id], `read state of container "${id}"`);
  return { ...base, runtime: parseRuntimeState(out) };
}

/** Validates `crun/runc state` output. Pure. */
export function parseRuntimeState(text: string): RuntimeState {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new RuntimeError("Internal", "Cannot parse runtime state: not JSON", { cause: e });
  }
  if (typeof v !== "object" || v === null) {
    throw new RuntimeError("Internal", "Cannot parse runtime state: not an object");
  }
  const id = Reflect.get(v, "id");
  const pid = Reflect.get(v, "pid");
  const status = Reflect.get(v, "status");
  const bundle = Reflect.get(v, "bundle");
  if (
    typeof id !== "string" || typeof pid !== "number" || typeof status !== "string" ||
    typeof bundle !== "string"
  ) {
    throw new RuntimeError("Internal", "Cannot parse runtime state: missing id, pid, status or bundle");
  }
  return { id, pid, status, bundle };
}
