/**
 * A queue of received stream messages exposed as a ReadableStream. `push()` resolves when the
 * queue has room again, so the connection's read loop pauses while a consumer is slow (ttRPC has
 * no flow control of its own). In borrow mode each message is a view into the connection's read
 * buffer: `push()` then resolves only when the consumer asks for the next message, i.e. when it is
 * done with this one.
 *
 * @module
 */
export class Inbox {
  readonly readable: ReadableStream<Uint8Array>;
  #controller!: ReadableStreamDefaultController<Uint8Array>;
  #space: PromiseWithResolvers<void> | undefined;
  #finished = false;

  readonly #borrow: boolean;

  constructor(highWaterMark: number, borrow = false) {
    this.#borrow = borrow;
    this.readable = new ReadableStream<Uint8Array>({
      start: (c) => {
        this.#controller = c;
      },
      pull: () => this.#wake(),
      cancel: () => {
        this.#finished = true;
        this.#wake();
      },
    }, new CountQueuingStrategy({ highWaterMark: borrow ? 0 : highWaterMark }));
  }

  /** True once ended, failed or cancelled by the consumer. */
  get finished(): boolean {
    return this.#finished;
  }

  /** Adds a message; the promise resolves when there is room for more. */
  push(msg: Uint8Array): Promise<void> | undefined {
    if (this.#finished) return undefined;
    this.#controller.enqueue(msg);
    if (!this.#borrow && (this.#controller.desiredSize ?? 1) > 0) return undefined;
    this.#space ??= Promise.withResolvers<void>();
    return this.#space.promise;
  }

  /** No more messages. */
  end(): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#controller.close();
    this.#wake();
  }

  /** Ends the stream with an error. */
  fail(e: unknown): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#controller.error(e);
    this.#wake();
  }

  #wake(): void {
    const s = this.#space;
    this.#space = undefined;
    s?.resolve();
  }
}
