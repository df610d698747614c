/**
 * The daemon's backend socket: where the supervisor's relays connect. Each connection names, in
 * its first bytes, the public socket it came in on (its tag); the daemon serves it with that
 * socket's ttRPC server.
 *
 * @module
 */
import type { Logger } from "../../log/logger.ts";
import { connDuplex, type TtrpcServer } from "../../protocol/ttrpc/mod.ts";
import { listenPrivate } from "../../sys/private_socket.ts";
import { readTag } from "./wire.ts";

/** How long a relay has to send its tag. */
const TAG_MS = 5000;

/** Listens on `path` (0600) and serves each relayed connection with `route(tag)`. */
export async function serveBackend(
  path: string,
  route: (tag: string) => TtrpcServer | undefined,
  log: Logger,
): Promise<Deno.Listener> {
  await Deno.remove(path).catch(() => {});
  const listener = await listenPrivate(path, (p) => Deno.listen({ transport: "unix", path: p }), {
    close: (l) => l.close(),
  });
  const serve = async (conn: Deno.Conn) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const tag = await Promise.race([
        readTag(conn),
        new Promise<never>((_, reject) => timer = setTimeout(() => reject(new Error("no tag")), TAG_MS)),
      ]);
      const server = route(tag);
      if (server === undefined) throw new Error(`unknown tag "${tag}"`);
      void server.serveConnection(connDuplex(conn));
    } catch (e) {
      log.warn("relayed connection refused", { error: e });
      conn.close();
    } finally {
      clearTimeout(timer);
    }
  };
  void (async () => {
    for await (const conn of listener) void serve(conn);
  })().catch(() => {});
  return listener;
}
