/**
 * Task stdio FIFOs (containerd's) read and written without ever parking a thread in open(2): a
 * blocking open of a FIFO waits for the other end, and when that end never comes (a `ctr run -d`
 * that exits, a FIFO removed meanwhile) the thread stays blocked for good. Deno runs file opens on
 * a bounded pool of blocking threads, so a few dozen such opens stopped the whole daemon. Here the
 * FIFO is opened non-blocking through libc and waited on with bounded polls.
 *
 * @module
 */
import { RuntimeError } from "../errors.ts";
import { FdStream } from "./fd_stream.ts";
import { closeFd, offHeap, openFifo, POLLERR, pollEvents, POLLHUP, POLLIN, readFd } from "./libc_fd.ts";

/** A FIFO's read end. */
export interface FifoReader {
  readonly readable: ReadableStream<Uint8Array>;
  /** Stops reading (the stream ends) and closes the fd. */
  close(): void;
}

/**
 * Opens `path` for reading at once. The stream waits for a writer, passes its data, and ends when
 * the writer (every writer) has closed, or on `close()`. Before any writer came, the kernel reports
 * no hang-up, so the stream keeps waiting rather than ending early.
 */
export function readFifo(path: string): FifoReader {
  const fd = openFifo(path, "read");
  if (fd === null) throw new RuntimeError("Internal", `Cannot open FIFO "${path}" for reading`);
  let closed = false;
  const buf = offHeap(16384);
  const close = () => {
    if (closed) return;
    closed = true;
    closeFd(fd);
  };
  const readable = new ReadableStream<Uint8Array>({
    pull: async (ctrl) => {
      for (;;) {
        if (closed) return ctrl.close();
        const ev = await pollEvents(fd, POLLIN, 200);
        if (closed) return ctrl.close();
        if ((ev & POLLIN) !== 0) {
          const r = readFd(fd, buf);
          if (r.kind === "again") continue;
          if (r.kind === "error") {
            return ctrl.error(new RuntimeError("Internal", `Cannot read "${path}": errno ${r.errno}`));
          }
          if (r.n === 0) {
            close();
            return ctrl.close();
          }
          return ctrl.enqueue(buf.slice(0, r.n));
        }
        if ((ev & (POLLHUP | POLLERR)) !== 0) {
          close();
          return ctrl.close();
        }
      }
    },
    cancel: () => close(),
  }, { highWaterMark: 0 });
  return { readable, close };
}

/**
 * Opens `path` for writing without waiting: null when nobody reads it (the output is then drained
 * nowhere, as containerd's shims do when the reader is gone).
 */
export function writeFifo(path: string): FdStream | null {
  const fd = openFifo(path, "write");
  return fd === null ? null : new FdStream(fd);
}
