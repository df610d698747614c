/**
 * The daemon's control calls carry one JSON object each: reading it and checking the paths it
 * names, in one place for every call (Register, Cleanup, ServeSandboxer, StopSandboxer,
 * ServeVmCache, HoldSandbox, LendSandbox).
 *
 * @module
 */
import { RuntimeError } from "../errors.ts";
import { isRecord } from "../sys/files.ts";

/** The JSON object of a control call's payload. @throws {RuntimeError} InvalidArgument */
export function controlObject(payload: Uint8Array, what: string): Record<string, unknown> {
  let x: unknown;
  try {
    x = JSON.parse(new TextDecoder().decode(payload));
  } catch (e) {
    throw new RuntimeError("InvalidArgument", `Invalid ${what} request: it is not JSON`, { cause: e });
  }
  if (!isRecord(x)) {
    throw new RuntimeError("InvalidArgument", `Invalid ${what} request: it is not a JSON object`);
  }
  return x;
}

/** `HoldSandbox` / `LendSandbox`: a library sandbox's id, and its configuration file for Hold. */
export function parseHeldRequest(
  payload: Uint8Array,
  what: "HoldSandbox" | "LendSandbox",
): { id: string; configPath?: string } {
  const x = controlObject(payload, what);
  const id = x["id"], configPath = x["configPath"];
  if (typeof id !== "string" || id === "") {
    throw new RuntimeError("InvalidArgument", `Invalid ${what} request: "id" must be a non-empty string`);
  }
  return {
    id,
    ...(configPath !== undefined ? { configPath: absolutePath(configPath, "configPath", what) } : {}),
  };
}

/** `x` as an absolute path without "..". @throws {RuntimeError} InvalidArgument */
export function absolutePath(x: unknown, field: string, what: string): string {
  if (typeof x !== "string" || !x.startsWith("/") || x.includes("\0") || x.split("/").includes("..")) {
    throw new RuntimeError(
      "InvalidArgument",
      `Invalid ${what} request: "${field}" must be an absolute path without ".." (got ${JSON.stringify(x)})`,
    );
  }
  return x;
}
