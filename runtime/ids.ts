/**
 * Branded identifiers and validated strings. Each has a smart constructor that throws
 * `RuntimeError("InvalidArgument")`; never cast parsed input to these types.
 *
 * @module
 */
import { RuntimeError } from "./errors.ts";

declare const brand: unique symbol;
type Brand<T, B extends string> = T & { readonly [brand]: B };

export type SandboxId = Brand<string, "SandboxId">;
export type ContainerId = Brand<string, "ContainerId">;
export type ExecId = Brand<string, "ExecId">;
export type DeviceId = Brand<string, "DeviceId">;
export type MacAddress = Brand<string, "MacAddress">;

// runc accepts [\w+-\.]+ ; we also bound the length and forbid a leading dot (no "." / "..").
const ID_RE = /^[A-Za-z0-9_+-][A-Za-z0-9_+.-]{0,127}$/;

function checkId(kind: string, s: string): void {
  if (!ID_RE.test(s)) {
    throw new RuntimeError(
      "InvalidArgument",
      `Invalid ${kind} "${
        s.slice(0, 80)
      }": use 1 to 128 letters, digits, "_", "+", "-" or "." and do not start with "."`,
    );
  }
}

/** Validates a sandbox id (runc container id rules, no path traversal). */
export function sandboxId(s: string): SandboxId {
  checkId("sandbox id", s);
  return s as SandboxId;
}

/** Validates a container id (runc container id rules, no path traversal). */
export function containerId(s: string): ContainerId {
  checkId("container id", s);
  return s as ContainerId;
}

/** Validates an exec id. */
export function execId(s: string): ExecId {
  checkId("exec id", s);
  return s as ExecId;
}

/** Validates a device id. */
export function deviceId(s: string): DeviceId {
  checkId("device id", s);
  return s as DeviceId;
}

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** Validates and lower-cases a MAC address. */
export function macAddress(s: string): MacAddress {
  const m = s.toLowerCase();
  if (!MAC_RE.test(m)) {
    throw new RuntimeError(
      "InvalidArgument",
      `Invalid MAC address "${s.slice(0, 40)}": expected six hex pairs like 02:00:00:00:00:01`,
    );
  }
  return m as MacAddress;
}
