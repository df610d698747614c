/**
 * The agent's transport to the host.
 *
 * virtio-serial: the port is found by name (/dev/virtio-ports/<name>, or /sys/class/virtio-ports/
 * when no udev made the link). When the host side is not connected, reads return EOF at once, so the
 * agent serves one connection until EOF, then reopens after a short pause: a host that disconnects
 * and reconnects (daemon restart) is served again.
 *
 * vsock: listens on port 1024 (`--unstable-vsock`); each host connection is served concurrently.
 *
 * @module
 */
import { uptimeSeconds } from "./sys/uptime.ts";
import { RuntimeError } from "../runtime/errors.ts";
import type { Logger } from "../runtime/log/logger.ts";
import { connDuplex, type Duplex } from "../runtime/protocol/ttrpc/channel.ts";
import type { TtrpcServer } from "../runtime/protocol/ttrpc/server.ts";
import { FdDuplex } from "./sys/fd_duplex.ts";

/** Resolves a virtio-serial port name to its device node. */
export async function findSerialPort(name: string, sysRoot = "/sys", devRoot = "/dev"): Promise<string> {
  const link = `${devRoot}/virtio-ports/${name}`;
  if (await Deno.stat(link).then(() => true, () => false)) return link;
  try {
    for await (const e of Deno.readDir(`${sysRoot}/class/virtio-ports`)) {
      const n = await Deno.readTextFile(`${sysRoot}/class/virtio-ports/${e.name}/name`).catch(() => "");
      if (n.trim() === name) return `${devRoot}/${e.name}`;
    }
  } catch {
    // no virtio-ports class: fall through
  }
  throw new RuntimeError("NotFound", `Cannot find virtio-serial port "${name}"`);
}

/**
 * Serves the virtio-serial port until `signal` aborts. The port is opened once and kept open: the
 * guest driver discards unread data when a port is closed, so closing and reopening between host
 * connections could drop half a frame and desynchronise the stream. A read of 0 bytes means "host
 * not connected": it ends the current ttRPC session (fresh frame state for the next host) but not
 * the file, and the next session starts after a short pause.
 */
export async function serveSerial(
  server: TtrpcServer,
  name: string,
  opts: { log: Logger; signal?: AbortSignal; retryMs?: number },
): Promise<void> {
  let path: string | undefined;
  while (path === undefined) {
    opts.signal?.throwIfAborted();
    try {
      path = await findSerialPort(name);
    } catch (e) {
      opts.log.limited.warn("agent port not found, retrying", { port: name, error: e });
      await sleep(500);
    }
  }
  const file = FdDuplex.open(path);
  opts.signal?.addEventListener("abort", () => file.close(), { once: true });
  opts.log.info("serving agent channel", { path, uptime: uptimeSeconds() });
  let sessions = 0;
  while (!opts.signal?.aborted) {
    const started = Date.now();
    const session = sessionDuplex(file);
    try {
      // A host that closes and a next one that connects at once can leave no gap for the guest to
      // see (no EOF): the next host's stream ids then arrive in this session and may be lower.
      await server.serveConnection(opts.log.level === "debug" ? tracedDuplex(session, opts.log) : session, {
        peerMayRestart: true,
      });
    } catch (e) {
      opts.log.limited.warn("agent channel failed", { path, error: e });
    }
    // A session that lasted means a host went away; an instant EOF means none is connected yet.
    if (Date.now() - started > 200) opts.log.info("host disconnected", { path, sessions: ++sessions });
    await sleep(opts.retryMs ?? 50);
  }
  file.close();
}

/** One ttRPC session on the shared port file: EOF ends the session; close() leaves the file open. */
function sessionDuplex(file: FdDuplex): Duplex {
  let ended = false;
  const read = async (p: Uint8Array): Promise<number | null> => {
    if (ended) return null;
    const n = await file.read(p);
    if (n === null || n === 0) {
      ended = true;
      return null;
    }
    return n;
  };
  const write = async (p: Uint8Array): Promise<number> => {
    if (ended) {
      throw new RuntimeError("Unavailable", "Cannot write to the agent channel: the host disconnected");
    }
    return await file.write(p);
  };
  const readable = new ReadableStream<Uint8Array>({
    async pull(c) {
      const buf = new Uint8Array(65536);
      const n = await read(buf);
      if (n === null) c.close();
      else c.enqueue(buf.subarray(0, n));
    },
  }, { highWaterMark: 0 }); // pull only on demand: an eager pull would steal bytes from read()
  const writable = new WritableStream<Uint8Array>({
    async write(chunk) {
      let off = 0;
      while (off < chunk.length) off += await write(chunk.subarray(off));
    },
  });
  return { readable, writable, read, write, close: () => void (ended = true) };
}

/** Listens on vsock and serves every connection (never used on hosts without vhost-vsock). */
export async function serveVsock(server: TtrpcServer, port: number, opts: { log: Logger }): Promise<void> {
  let listener: Deno.Listener;
  try {
    listener = Deno.listen({ transport: "vsock", cid: -1, port });
  } catch (e) {
    throw new RuntimeError("Unavailable", `Cannot listen on vsock port ${port}: ${String(e)}`, { cause: e });
  }
  opts.log.info("listening on vsock", { port });
  for await (const conn of listener) {
    server.serveConnection(connDuplex(conn)).catch((e) =>
      opts.log.warn("vsock connection failed", { error: e })
    );
  }
}

/** Logs byte counts of reads and writes (agent.log=debug). */
function tracedDuplex(d: Duplex, log: Logger): Duplex {
  const read = d.read?.bind(d);
  const write = d.write?.bind(d);
  return {
    get readable() {
      return d.readable;
    },
    get writable() {
      return d.writable;
    },
    close: () => d.close(),
    ...(read
      ? {
        read: async (p: Uint8Array) => {
          const n = await read(p);
          log.limited.debug("channel read", { bytes: n });
          return n;
        },
      }
      : {}),
    ...(write
      ? {
        write: async (p: Uint8Array) => {
          const n = await write(p);
          log.limited.debug("channel write", { bytes: n });
          return n;
        },
      }
      : {}),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
