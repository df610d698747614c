/**
 * A raw file descriptor as a ttRPC duplex, with reads and writes independent of each other.
 *
 * Why not `Deno.open`: Deno runs the operations of one FsFile one after another, so a read parked
 * on a quiet virtio-serial port holds back the response write until the host sends more bytes. A
 * port can only be opened once, so two FsFiles are no way out either. Here the fd is non-blocking:
 * reads wait in `poll` on a blocking thread (bounded, 200 ms, so close is prompt), writes are plain
 * `write` calls on the JS thread.
 *
 * Read semantics of a virtio-serial port: data, EAGAIN (host connected, nothing yet) or 0 bytes
 * (host not connected). `read()` maps 0 bytes to end of stream.
 *
 * @module
 */
import { RuntimeError } from "../../runtime/errors.ts";
import type { Duplex } from "../../runtime/protocol/ttrpc/channel.ts";
import { closeFd, pollFd, readFd, writeFd } from "../../runtime/sys/libc_fd.ts";
import { openRdwrNonBlocking } from "./libc.ts";

/** An open fd (owned: `close()` closes it). */
export class FdDuplex implements Duplex {
  readonly #fd: number;
  #closed = false;
  readonly readable: ReadableStream<Uint8Array>;
  readonly writable: WritableStream<Uint8Array>;

  constructor(fd: number) {
    this.#fd = fd;
    this.readable = new ReadableStream<Uint8Array>({
      pull: async (c) => {
        const buf = new Uint8Array(65536);
        const n = await this.read(buf);
        if (n === null) c.close();
        else c.enqueue(buf.subarray(0, n));
      },
    }, { highWaterMark: 0 }); // pull only on demand: an eager pull would steal bytes from read()
    this.writable = new WritableStream<Uint8Array>({
      write: async (chunk) => {
        let off = 0;
        while (off < chunk.length) off += await this.write(chunk.subarray(off));
      },
    });
  }

  static open(path: string): FdDuplex {
    return new FdDuplex(openRdwrNonBlocking(path));
  }

  get closed(): boolean {
    return this.#closed;
  }

  async read(p: Uint8Array): Promise<number | null> {
    for (;;) {
      if (this.#closed) return null;
      const r = readFd(this.#fd, p);
      if (r.kind === "ok") return r.n === 0 ? null : r.n;
      if (r.kind === "error") {
        throw new RuntimeError(
          "Unavailable",
          `Cannot read the agent channel (fd ${this.#fd}): errno ${r.errno}`,
        );
      }
      await pollFd(this.#fd, "in", 200);
    }
  }

  async write(p: Uint8Array): Promise<number> {
    for (;;) {
      if (this.#closed) {
        throw new RuntimeError("Unavailable", "Cannot write to the agent channel: it is closed");
      }
      const r = writeFd(this.#fd, p);
      if (r.kind === "ok") return r.n;
      if (r.kind === "error") {
        throw new RuntimeError(
          "Unavailable",
          `Cannot write the agent channel (fd ${this.#fd}): errno ${r.errno}`,
        );
      }
      await pollFd(this.#fd, "out", 200);
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    closeFd(this.#fd);
  }
}
