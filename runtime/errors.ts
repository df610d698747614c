/**
 * One error family for the whole runtime. Codes are aligned with gRPC status codes so that the
 * ttRPC/gRPC edges map them 1:1, and `main.ts` maps them to process exit codes. Branch on `code`
 * or `instanceof`, never on message text.
 *
 * @module
 */

/** Error codes, named after the gRPC codes they map to. */
export type ErrorCode =
  | "Cancelled"
  | "Unknown"
  | "InvalidArgument"
  | "DeadlineExceeded"
  | "NotFound"
  | "AlreadyExists"
  | "PermissionDenied"
  | "ResourceExhausted"
  | "FailedPrecondition"
  | "Aborted"
  | "OutOfRange"
  | "Unimplemented"
  | "Internal"
  | "Unavailable"
  | "DataLoss"
  | "Unauthenticated";

/** All codes, in gRPC number order starting at 1 (CANCELLED). */
export const ERROR_CODES: readonly ErrorCode[] = [
  "Cancelled",
  "Unknown",
  "InvalidArgument",
  "DeadlineExceeded",
  "NotFound",
  "AlreadyExists",
  "PermissionDenied",
  "ResourceExhausted",
  "FailedPrecondition",
  "Aborted",
  "OutOfRange",
  "Unimplemented",
  "Internal",
  "Unavailable",
  "DataLoss",
  "Unauthenticated",
];

/** The base class of every error Cocoon raises on purpose. */
export class RuntimeError extends Error {
  override name = "RuntimeError";
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

/** Configuration could not be read or validated. */
export class ConfigError extends RuntimeError {
  override name = "ConfigError";
}
/** A plugin could not be found, loaded or created. */
export class PluginError extends RuntimeError {
  override name = "PluginError";
}
/** The hypervisor or the VM failed. */
export class HypervisorError extends RuntimeError {
  override name = "HypervisorError";
}
/** A ttRPC/gRPC call or connection failed. */
export class ProtocolError extends RuntimeError {
  override name = "ProtocolError";
}
/** The guest agent failed or answered badly. */
export class AgentError extends RuntimeError {
  override name = "AgentError";
}
/** Sandbox or container lifecycle errors. */
export class SandboxError extends RuntimeError {
  override name = "SandboxError";
}
/** Guest image build errors. */
export class GuestImageError extends RuntimeError {
  override name = "GuestImageError";
}

/** True when `e` is a {@link RuntimeError} (also across module copies, by shape). */
export function isRuntimeError(e: unknown): e is RuntimeError {
  if (e instanceof RuntimeError) return true;
  if (!(e instanceof Error)) return false;
  const code = (e as { code?: unknown }).code;
  return typeof code === "string" && (ERROR_CODES as readonly string[]).includes(code);
}

/** The gRPC numeric status code of an error code. */
export function grpcCodeOf(code: ErrorCode): number {
  return ERROR_CODES.indexOf(code) + 1;
}

/** The error code of a gRPC numeric status (0 is not an error; unknown numbers map to `Unknown`). */
export function errorCodeOfGrpc(n: number): ErrorCode {
  return ERROR_CODES[n - 1] ?? "Unknown";
}

/** Turns anything thrown into a RuntimeError, keeping the original as `cause`. */
export function toRuntimeError(e: unknown, context?: string): RuntimeError {
  if (isRuntimeError(e)) return e;
  if (e instanceof Deno.errors.NotFound) {
    return new RuntimeError("NotFound", withContext(e.message), { cause: e });
  }
  if (e instanceof Deno.errors.AlreadyExists) {
    return new RuntimeError("AlreadyExists", withContext(e.message), { cause: e });
  }
  if (e instanceof Deno.errors.PermissionDenied || e instanceof Deno.errors.NotCapable) {
    return new RuntimeError("PermissionDenied", withContext(e.message), { cause: e });
  }
  if (e instanceof DOMException && (e.name === "AbortError" || e.name === "TimeoutError")) {
    return new RuntimeError(
      e.name === "TimeoutError" ? "DeadlineExceeded" : "Cancelled",
      withContext(e.message),
      {
        cause: e,
      },
    );
  }
  const msg = e instanceof Error ? e.message : String(e);
  return new RuntimeError("Internal", withContext(msg), { cause: e });

  function withContext(m: string): string {
    return context ? `${context}: ${m}` : m;
  }
}

/**
 * Exit code of the `cocoon` process for an error code. runc exits 1 for every failure; callers such
 * as podman read the error text, so the code stays 1 except where a distinct code helps scripts.
 */
export function exitCodeOf(code: ErrorCode): number {
  switch (code) {
    case "InvalidArgument":
      return 2; // usage-style errors, like most CLIs
    case "Unimplemented":
      return 3;
    default:
      return 1;
  }
}
