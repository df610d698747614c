/**
 * The HTTP edge of the error family: RuntimeError code → HTTP status, and the JSON error body.
 * Errors are mapped here and nowhere else; an error that is not a RuntimeError becomes a generic
 * 500 and is logged in full by the app.
 *
 * @module
 */
import { type ErrorCode, isRuntimeError, RuntimeError } from "../../errors.ts";
import type { SandboxOwner } from "./types.ts";

/** A sandbox held by a process the API has no route to (409, the owner named in the body). */
export class OwnerConflictError extends RuntimeError {
  override name = "OwnerConflictError";
  readonly owner: SandboxOwner;
  constructor(owner: SandboxOwner, message: string, options?: ErrorOptions) {
    super("FailedPrecondition", message, options);
    this.owner = owner;
  }
}

export type HttpStatus = 400 | 401 | 403 | 404 | 409 | 429 | 500 | 501 | 503 | 504;

const STATUS: Readonly<Record<ErrorCode, HttpStatus>> = {
  Cancelled: 503,
  Unknown: 500,
  InvalidArgument: 400,
  DeadlineExceeded: 504,
  NotFound: 404,
  AlreadyExists: 409,
  PermissionDenied: 403,
  ResourceExhausted: 429,
  FailedPrecondition: 409,
  Aborted: 409,
  OutOfRange: 400,
  Unimplemented: 501,
  Internal: 500,
  Unavailable: 503,
  DataLoss: 500,
  Unauthenticated: 401,
};

/** The HTTP status of an error code. Pure. */
export function httpStatus(code: ErrorCode): HttpStatus {
  return STATUS[code];
}

export interface ErrorBody {
  readonly error: {
    readonly code: ErrorCode;
    readonly message: string;
    readonly owner?: SandboxOwner;
  };
}

/** Status and body for any thrown value; `known` is false for errors that are not RuntimeErrors. Pure. */
export function errorResponse(e: unknown): { status: HttpStatus; body: ErrorBody; known: boolean } {
  if (!isRuntimeError(e)) {
    return { status: 500, body: { error: { code: "Internal", message: "Internal error" } }, known: false };
  }
  const owner = e instanceof OwnerConflictError ? { owner: e.owner } : {};
  return {
    status: httpStatus(e.code),
    body: { error: { code: e.code, message: e.message, ...owner } },
    known: true,
  };
}

/** A sentence naming the owner ("cocoon daemon (pid 12)"). Pure. */
export function describeOwner(o: SandboxOwner): string {
  switch (o.kind) {
    case "holder":
      return `its OCI holder (pid ${o.pid})`;
    case "process":
      return o.role === "program"
        ? `the program that holds it (pid ${o.pid}: ${o.command})`
        : `cocoon ${o.role} (pid ${o.pid})`;
    case "in-process":
      return `this process (pid ${o.pid})`;
    case "none":
      return "nobody";
    case "stopped":
      return "nobody (the VM is not running)";
  }
}
