/**
 * Web Streams over a raw fd that Deno has no handle for (a pty slave made through FFI): the fd is
 * set non-blocking, reads and writes are plain `read(2)`/`write(2)`, and waiting is a bounded
 * `poll(2)` on a blocking thread, so nothing stays parked in a thread once the fd is closed.
 * Reading is pull-based: back pressure reaches the terminal. EIO (the other end of a pty went away)
 * reads as end of stream.
 *
 * @module
 */
import { RuntimeError } from "../errors.ts";
import { closeFd, EIO, offHeap, pollFd, readFd, setNonBlocking, writeFd } from "./libc_fd.ts";

export class FdStream {
  readonly #fd: number;
  #closed = false;
  readonly readable: ReadableStream<Uint8Array>;
  readonly writable: WritableStream<Uint8Array>;

  constructor(fd: number) {
    this.#fd = fd;
    setNonBlocking(fd);
    const rbuf = offHeap(16384);
    const wbuf = offHeap(16384);
    this.readable = new ReadableStream<Uint8Array>({
      pull: async (ctrl) => {
        for (;;) {
          if (this.#closed) return ctrl.close();
          const r = readFd(this.#fd, rbuf);
          if (r.kind === "ok") return r.n === 0 ? ctrl.close() : ctrl.enqueue(rbuf.slice(0, r.n));
          if (r.kind === "error") {
            if (r.errno === EIO) return ctrl.close();
            return ctrl.error(new RuntimeError("Internal", `Cannot read fd ${this.#fd}: errno ${r.errno}`));
          }
          await pollFd(this.#fd, "in", 100);
        }
      },
    }, { highWaterMark: 0 });
    this.writable = new WritableStream<Uint8Array>({
      write: async (chunk) => {
        let off = 0;
        while (off < chunk.length) {
          if (this.#closed) {
            throw new RuntimeError("FailedPrecondition", `Cannot write fd ${this.#fd}: it is closed`);
          }
          const part = chunk.subarray(off, off + wbuf.length);
          wbuf.set(part);
          const r = writeFd(this.#fd, wbuf.subarray(0, part.length));
          if (r.kind === "ok") off += r.n;
          else if (r.kind === "again") await pollFd(this.#fd, "out", 100);
          else throw new RuntimeError("Unavailable", `Cannot write fd ${this.#fd}: errno ${r.errno}`);
        }
      },
    });
  }

  get fd(): number {
    return this.#fd;
  }

  get closed(): boolean {
    return this.#closed;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    closeFd(this.#fd);
  }
}
