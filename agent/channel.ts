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
import { RuntimeError } from "../runtime/errors.ts";
import type { Logger } from "../runtime/log/logger.ts";
import { connDuplex, openFileDuplex } from "../runtime/protocol/ttrpc/channel.ts";
import type { TtrpcServer } from "../runtime/protocol/ttrpc/server.ts";

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

/** Serves the virtio-serial port forever (until `signal` aborts), reopening after each disconnect. */
export async function serveSerial(
  server: TtrpcServer,
  name: string,
  opts: { log: Logger; signal?: AbortSignal; retryMs?: number },
): Promise<void> {
  let connected = 0;
  while (!opts.signal?.aborted) {
    let path: string;
    try {
      path = await findSerialPort(name);
    } catch (e) {
      opts.log.limited.warn("agent port not found, retrying", { port: name, error: e });
      await sleep(500);
      continue;
    }
    const started = Date.now();
    try {
      const duplex = await openFileDuplex(path);
      const onAbort = () => duplex.close();
      opts.signal?.addEventListener("abort", onAbort, { once: true });
      await server.serveConnection(duplex);
      opts.signal?.removeEventListener("abort", onAbort);
    } catch (e) {
      opts.log.limited.warn("agent channel failed", { path, error: e });
    }
    // A session that lasted means a host went away; an instant EOF means none is connected yet.
    if (Date.now() - started > 200) {
      opts.log.info("host disconnected; reopening channel", { path, sessions: ++connected });
    }
    await sleep(opts.retryMs ?? 50);
  }
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

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
