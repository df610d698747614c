/**
 * `--console-socket` (runc's contract): the runtime makes a pty, sends its master to the caller's
 * unix socket as SCM_RIGHTS with the pty's name as the message, and keeps the slave for the
 * container. Cocoon's container runs in a guest with a guest pty; the host slave kept here is put
 * in raw mode and relayed to the guest terminal, so the caller (conmon, containerd's shim) sees an
 * ordinary terminal on the master it received.
 *
 * @module
 */
import { RuntimeError } from "../errors.ts";
import { FdStream } from "./fd_stream.ts";
import { closeFd, connectUnix, getWindowSize, makeRaw, openPty, sendFd, type WindowSize } from "./libc_fd.ts";

/** The slave end of a terminal whose master went to a console socket. */
export interface ConsoleSlave {
  readonly name: string;
  readonly stream: FdStream;
  /** The window size the master's owner set (0×0 until it sets one). */
  windowSize(): WindowSize;
  close(): void;
}

/**
 * Makes a pty, sends the master to `socketPath` and returns the slave (raw mode).
 *
 * @throws {RuntimeError} `NotFound`/`Unavailable` when the socket cannot be reached.
 */
export function sendConsole(socketPath: string): ConsoleSlave {
  const pty = openPty();
  try {
    makeRaw(pty.slave);
    const sock = connectUnix(socketPath);
    try {
      sendFd(sock, pty.master, new TextEncoder().encode(pty.name));
    } finally {
      closeFd(sock);
    }
  } catch (e) {
    closeFd(pty.slave);
    throw e instanceof RuntimeError
      ? e
      : new RuntimeError("Internal", `Cannot send a terminal to "${socketPath}"`, { cause: e });
  } finally {
    closeFd(pty.master);
  }
  const stream = new FdStream(pty.slave);
  return {
    name: pty.name,
    stream,
    windowSize: () => getWindowSize(pty.slave),
    close: () => stream.close(),
  };
}
