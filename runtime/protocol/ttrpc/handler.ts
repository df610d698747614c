/**
 * What a ttRPC service method is: a unary function or a stream handler, and what it knows about
 * its call.
 *
 * @module
 */
import type { Metadata } from "./metadata.ts";
import type { ServerStream } from "./server_stream.ts";

/** What a handler knows about its call. */
export interface CallContext {
  readonly service: string;
  readonly method: string;
  readonly streamId: number;
  /** Request metadata, keys lower-cased. */
  readonly metadata: Metadata;
  /** Aborted when the client's deadline passes (reason: `DeadlineExceeded`) or the connection drops (`Unavailable`). */
  readonly signal: AbortSignal;
  /** The client's deadline (epoch ms), if it sent one. */
  readonly deadline: number | undefined;
}

/** A unary method: request payload in, response payload out. Throw a RuntimeError to send its code. */
export type UnaryHandler = (payload: Uint8Array, ctx: CallContext) => Promise<Uint8Array>;

/** A streaming method (ttrpc 1.2). Returning closes the stream; throwing sends the error status. */
export interface StreamHandler {
  readonly kind: "stream";
  /** Zero-copy receive: each client message is valid only until the next one is read. */
  readonly borrow?: boolean;
  handle(stream: ServerStream, ctx: CallContext): Promise<void>;
}

export type MethodHandler = UnaryHandler | StreamHandler;
/** Handlers of one service, by bare method name (`Create`, not `/x.Task/Create`). */
export type ServiceHandlers = Readonly<Record<string, MethodHandler>>;

/**
 * Wraps a function as a {@link StreamHandler}. With `borrow`, client messages are views into the
 * connection's read buffer, valid until the handler asks for the next one (no copy per frame).
 */
export function streamHandler(
  handle: (stream: ServerStream, ctx: CallContext) => Promise<void>,
  opts: { borrow?: boolean } = {},
): StreamHandler {
  return { kind: "stream", handle, borrow: opts.borrow ?? false };
}
