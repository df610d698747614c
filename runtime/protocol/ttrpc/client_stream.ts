/**
 * The client side of one ttRPC 1.2 stream: send Data frames, half-close, and read the server's
 * messages as a ReadableStream / async iterable with back pressure.
 *
 * @module
 */
import { ProtocolError } from "../../errors.ts";
import { Flags, MessageType } from "./frame.ts";
import { Inbox } from "./_inbox.ts";

/** What a stream needs from its client connection. */
export interface StreamPort {
  send(type: number, flags: number, payload: Uint8Array): Promise<void>;
  /** Forget the stream (later frames for its id are ignored). */
  detach(): void;
}

const NO_DATA = new Uint8Array(0);

/** One open client stream. Iterate it (or read `readable`) to receive the server's messages. */
export class ClientStream implements AsyncIterable<Uint8Array> {
  readonly streamId: number;
  readonly what: string;
  /** Messages are views valid until the next one is read (`StreamOptions.borrow`). */
  readonly borrow: boolean;
  readonly #port: StreamPort;
  readonly #inbox: Inbox;
  #sendClosed: boolean;

  /** @internal Created by `TtrpcClient.stream()`. */
  constructor(
    streamId: number,
    what: string,
    port: StreamPort,
    opts: { sendClosed: boolean; highWaterMark: number; borrow: boolean },
  ) {
    this.borrow = opts.borrow;
    this.streamId = streamId;
    this.what = what;
    this.#port = port;
    this.#sendClosed = opts.sendClosed;
    this.#inbox = new Inbox(opts.highWaterMark, opts.borrow);
  }

  /** Messages from the server; ends when the server closes the stream, errors on a status. */
  get readable(): ReadableStream<Uint8Array> {
    return this.#inbox.readable;
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return this.#inbox.readable[Symbol.asyncIterator]();
  }

  /** Sends one message (a Data frame). Resolves when written. */
  send(msg: Uint8Array): Promise<void> {
    if (this.#sendClosed) {
      return Promise.reject(
        new ProtocolError("FailedPrecondition", `Cannot send on stream ${this.what}: send side closed`),
      );
    }
    return this.#port.send(MessageType.Data, 0, msg);
  }

  /** Half-closes: tells the server no more messages follow (Data frame, flags 0x05). */
  closeSend(): Promise<void> {
    if (this.#sendClosed) return Promise.resolve();
    this.#sendClosed = true;
    return this.#port.send(MessageType.Data, Flags.RemoteClosed | Flags.NoData, NO_DATA);
  }

  /** Stops receiving locally (ttRPC cannot tell the server); the readable errors with `Cancelled`. */
  cancel(reason?: unknown): void {
    this.#sendClosed = true;
    this.#port.detach();
    this.#inbox.fail(new ProtocolError("Cancelled", `Stream ${this.what} cancelled`, { cause: reason }));
  }

  /** @internal A message arrived; resolves when there is room for more. */
  deliver(msg: Uint8Array): Promise<void> | undefined {
    return this.#inbox.push(msg);
  }

  /** @internal The server ended the stream cleanly. */
  end(): void {
    this.#sendClosed = true;
    this.#port.detach();
    this.#inbox.end();
  }

  /** @internal The stream failed (status, timeout, connection loss). */
  fail(e: unknown): void {
    this.#sendClosed = true;
    this.#port.detach();
    this.#inbox.fail(e);
  }
}
