/**
 * The byte stream a ttRPC channel runs on (a unix socket, a virtio-serial port, a memory pair).
 *
 * @module
 */

/**
 * A bidirectional byte stream. `read`/`write` are optional fast paths (pull reads into our buffer,
 * direct writes) that the channel prefers over `readable`/`writable` when present.
 */
export interface Duplex {
  readonly readable: ReadableStream<Uint8Array>;
  readonly writable: WritableStream<Uint8Array>;
  close(): void;
  read?(p: Uint8Array): Promise<number | null>;
  write?(p: Uint8Array): Promise<number>;
}
