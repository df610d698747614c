/**
 * The server side of one ttRPC 1.2 stream, handed to a streaming handler: the client's messages as
 * a ReadableStream / async iterable, and `send()` for the server's messages.
 *
 * @module
 */
import { ProtocolError } from "../../errors.ts";
import { Inbox } from "./_inbox.ts";

/** One stream as seen by a streaming handler. Returning from the handler closes it. */
export class ServerStream implements AsyncIterable<Uint8Array> {
  readonly streamId: number;
  /** The Request payload: the request message of a server-streaming call, empty for client streaming. */
  readonly request: Uint8Array;
  /** Messages are views valid until the next one is read (see `streamHandler`'s `borrow`). */
  readonly borrow: boolean;
  readonly #send: (msg: Uint8Array) => Promise<void>;
  readonly #inbox: Inbox;
  #done = false;

  /** @internal Created by the server for each streaming call. */
  constructor(
    streamId: number,
    request: Uint8Array,
    send: (msg: Uint8Array) => Promise<void>,
    opts: { inboundOpen: boolean; highWaterMark: number; borrow: boolean },
  ) {
    this.streamId = streamId;
    this.request = request;
    this.#send = send;
    this.borrow = opts.borrow;
    this.#inbox = new Inbox(opts.highWaterMark, opts.borrow);
    if (!opts.inboundOpen) this.#inbox.end();
  }

  /** The client's messages; ends when the client half-closes. */
  get readable(): ReadableStream<Uint8Array> {
    return this.#inbox.readable;
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return this.#inbox.readable[Symbol.asyncIterator]();
  }

  /** Sends one message to the client (a Data frame); resolves when written. */
  send(msg: Uint8Array): Promise<void> {
    if (this.#done) {
      return Promise.reject(
        new ProtocolError("FailedPrecondition", `Cannot send on stream ${this.streamId}: closed`),
      );
    }
    return this.#send(msg);
  }

  /** @internal True while the client may still send. */
  get inboundOpen(): boolean {
    return !this.#inbox.finished;
  }

  /** @internal A client message arrived. */
  deliver(msg: Uint8Array): Promise<void> | undefined {
    return this.#inbox.push(msg);
  }

  /** @internal The client half-closed. */
  endInbound(): void {
    this.#inbox.end();
  }

  /** @internal The call is over (handler returned, failed, or the connection dropped). */
  finish(e: unknown): void {
    this.#done = true;
    this.#inbox.fail(e);
  }
}
