/**
 * Terminals for containers: crun/runc `--console-socket`. The runtime allocates the pty inside the
 * container and sends its master fd over a unix socket with SCM_RIGHTS; Deno cannot receive fds,
 * so the socket, accept and recvmsg go through FFI (non-blocking, polled, so nothing stays parked in
 * a thread). The master is then read/written with non-blocking `read`/`write` and a bounded
 * `poll` on a blocking thread, and exposed as Web Streams (pull-based: back pressure reaches the
 * pty). Resize is `ioctl(TIOCSWINSZ)` on the master.
 *
 * @module
 */
import { RuntimeError } from "../../runtime/errors.ts";
import {
  closeFd,
  EIO,
  pollFd,
  readFd,
  setNonBlocking,
  setWindowSize,
  writeFd,
} from "../../runtime/sys/libc_fd.ts";
import { acceptNoWait, listenUnix, recvFdNoWait } from "./libc.ts";

/** A container's terminal, seen from the agent (the pty master). */
export interface Terminal {
  readonly readable: ReadableStream<Uint8Array>;
  readonly writable: WritableStream<Uint8Array>;
  resize(rows: number, cols: number): void;
  close(): void;
}

export interface ConsoleListener {
  readonly path: string;
  /** Waits for the runtime to connect and pass the pty master. */
  accept(opts?: { signal?: AbortSignal; timeoutMs?: number }): Promise<Terminal>;
  close(): void;
}

export interface ConsoleProvider {
  listen(path: string): ConsoleListener;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The real provider (FFI). */
export const ffiConsoles: ConsoleProvider = {
  listen(path: string): ConsoleListener {
    const fd = listenUnix(path);
    let closed = false;
    return {
      path,
      async accept(opts = {}) {
        const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
        const abortCheck = (): void => {
          if (closed) {
            throw new RuntimeError("Cancelled", `Cannot receive a terminal on "${path}": socket closed`);
          }
          if (opts.signal?.aborted) {
            throw new RuntimeError("Cancelled", `Cannot receive a terminal on "${path}": cancelled`, {
              cause: opts.signal.reason,
            });
          }
          if (Date.now() > deadline) {
            throw new RuntimeError("DeadlineExceeded", `Cannot receive a terminal on "${path}": timed out`);
          }
        };
        let conn: number | null = null;
        while (conn === null) {
          abortCheck();
          conn = acceptNoWait(fd);
          if (conn === null) await sleep(5);
        }
        try {
          for (;;) {
            abortCheck();
            const r = recvFdNoWait(conn);
            if (r === "eof") {
              throw new RuntimeError(
                "Unavailable",
                `Cannot receive a terminal on "${path}": peer sent no fd`,
              );
            }
            if (r !== "again") return new PtyTerminal(r.fd);
            await sleep(5);
          }
        } finally {
          closeFd(conn);
        }
      },
      close() {
        if (closed) return;
        closed = true;
        closeFd(fd);
        try {
          Deno.removeSync(path);
        } catch {
          // already gone
        }
      },
    };
  },
};

/** Handle on a pty master fd. */
class PtyTerminal implements Terminal {
  readonly #fd: number;
  #closed = false;
  readonly readable: ReadableStream<Uint8Array>;
  readonly writable: WritableStream<Uint8Array>;

  constructor(fd: number) {
    this.#fd = fd;
    setNonBlocking(fd);
    const buf = new Uint8Array(16384);
    this.readable = new ReadableStream<Uint8Array>({
      pull: async (ctrl) => {
        for (;;) {
          if (this.#closed) return ctrl.close();
          const r = readFd(this.#fd, buf);
          if (r.kind === "ok") {
            if (r.n === 0) return ctrl.close();
            return ctrl.enqueue(buf.slice(0, r.n));
          }
          // EIO: every slave fd is closed (the process exited): end of output.
          if (r.kind === "error") {
            if (r.errno === EIO) return ctrl.close();
            return ctrl.error(
              new RuntimeError("Internal", `Cannot read terminal fd ${this.#fd}: errno ${r.errno}`),
            );
          }
          await pollFd(this.#fd, "in", 100);
        }
      },
    }, { highWaterMark: 0 });
    this.writable = new WritableStream<Uint8Array>({
      write: async (chunk) => {
        let off = 0;
        while (off < chunk.length) {
          if (this.#closed) throw new RuntimeError("FailedPrecondition", "Cannot write to a closed terminal");
          const r = writeFd(this.#fd, chunk.subarray(off));
          if (r.kind === "ok") off += r.n;
          else if (r.kind === "again") await pollFd(this.#fd, "out", 100);
          else {throw new RuntimeError(
              "Unavailable",
              `Cannot write to terminal fd ${this.#fd}: errno ${r.errno}`,
            );}
        }
      },
    });
  }

  resize(rows: number, cols: number): void {
    if (this.#closed) throw new RuntimeError("FailedPrecondition", "Cannot resize a closed terminal");
    setWindowSize(this.#fd, { rows, cols });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    closeFd(this.#fd);
  }
}
