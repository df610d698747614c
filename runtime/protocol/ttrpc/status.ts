/**
 * gRPC status codes and the one place where ttRPC statuses and Cocoon errors meet: statuses from a
 * peer become {@link RpcStatusError} (a `ProtocolError` whose `code` is the matching `ErrorCode`,
 * with the peer's message text kept verbatim); errors thrown by handlers become statuses.
 *
 * @module
 */
import { type ErrorCode, errorCodeOfGrpc, grpcCodeOf, isRuntimeError, ProtocolError } from "../../errors.ts";
import type { Logger } from "../../log/logger.ts";
import type { AnyMessage, Status } from "./envelope.ts";

/** gRPC status code numbers. */
export const Code = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

/** An error status received from a ttRPC peer. `message` is the peer's text, unchanged. */
export class RpcStatusError extends ProtocolError {
  override name = "RpcStatusError";
  /** The numeric gRPC code as received (codes above 16 keep their number; `code` is then "Unknown"). */
  readonly grpcCode: number;
  readonly details: readonly AnyMessage[];
  constructor(
    grpcCode: number,
    message: string,
    details: readonly AnyMessage[] = [],
    options?: ErrorOptions,
  ) {
    super(errorCodeOfGrpc(grpcCode), message, options);
    this.grpcCode = grpcCode;
    this.details = details;
  }
}

/** Builds a status from an error code and message. */
export function statusOf(code: ErrorCode, message: string): Status {
  return { code: grpcCodeOf(code), message, details: [] };
}

/** The error for a non-OK status, or undefined for OK/absent. `what` names the call for empty messages. */
export function errorOfStatus(st: Status | undefined, what: string): RpcStatusError | undefined {
  if (st === undefined || st.code === Code.OK) return undefined;
  const message = st.message !== "" ? st.message : `Call ${what} failed with status ${st.code}`;
  return new RpcStatusError(st.code, message, st.details);
}

/**
 * The status to send for an error thrown by a handler. Cocoon errors keep their code and message;
 * anything else becomes INTERNAL with a generic message, and is logged in full.
 */
export function statusOfError(e: unknown, log: Logger, what: string): Status {
  if (e instanceof RpcStatusError) return { code: e.grpcCode, message: e.message, details: e.details };
  if (isRuntimeError(e)) return { code: grpcCodeOf(e.code), message: e.message, details: [] };
  log.error("handler failed", { call: what, error: describe(e) });
  return { code: Code.INTERNAL, message: `Cannot complete ${what}: internal error`, details: [] };
}

function describe(e: unknown): string {
  if (e instanceof Error) return e.stack ?? `${e.name}: ${e.message}`;
  return String(e);
}
