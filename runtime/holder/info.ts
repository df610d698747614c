/**
 * `holder.json`: what a CLI verb needs to find a container's holder, and the liveness check that
 * survives pid reuse (the pid and the process start time, from /proc/<pid>/stat, must both match).
 *
 * @module
 */
import { RuntimeError } from "../errors.ts";
import { processAlive } from "../sys/process_identity.ts";
import { isRecord, writeAtomic } from "../sys/files.ts";

export interface HolderInfo {
  readonly pid: number;
  /** Field 22 of /proc/<pid>/stat (clock ticks since boot). */
  readonly startTime: string;
  readonly socket: string;
  readonly bundle: string;
  readonly createdAt: string;
}

/** Validates a parsed holder.json. Pure. */
export function parseHolderInfo(x: unknown, where: string): HolderInfo {
  if (
    !isRecord(x) || typeof x["pid"] !== "number" || !Number.isInteger(x["pid"]) || x["pid"] <= 0 ||
    typeof x["startTime"] !== "string" || typeof x["socket"] !== "string" ||
    typeof x["bundle"] !== "string" ||
    typeof x["createdAt"] !== "string"
  ) {
    throw new RuntimeError(
      "DataLoss",
      `Invalid holder state "${where}": expected pid, startTime, socket, bundle, createdAt`,
    );
  }
  return {
    pid: x["pid"],
    startTime: x["startTime"],
    socket: x["socket"],
    bundle: x["bundle"],
    createdAt: x["createdAt"],
  };
}

export async function readHolderInfo(path: string): Promise<HolderInfo | null> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
  let x: unknown;
  try {
    x = JSON.parse(text);
  } catch (e) {
    throw new RuntimeError("DataLoss", `Invalid holder state "${path}": it is not JSON`, { cause: e });
  }
  return parseHolderInfo(x, path);
}

/** Writes holder.json atomically (temp file, fsync, rename). */
export async function writeHolderInfo(path: string, info: HolderInfo): Promise<void> {
  await writeAtomic(path, JSON.stringify(info));
}

/** True when the holder described by `info` still runs (same pid and start time). */
export async function holderAlive(info: HolderInfo): Promise<boolean> {
  return await processAlive(info);
}
