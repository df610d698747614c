/**
 * Serving the API app on unix sockets (`unix:///run/cocoon/api.sock`) and localhost TCP
 * (`tcp://127.0.0.1:8080`; port 0 picks a free one).
 *
 * @module
 */
import { RuntimeError } from "../../errors.ts";
import type { Logger } from "../../log/logger.ts";

export type ListenAddress =
  | { readonly kind: "unix"; readonly path: string }
  | { readonly kind: "tcp"; readonly hostname: string; readonly port: number };

/** Parses `unix:///path`, a bare absolute path, or `tcp://host:port`. Pure. @throws InvalidArgument */
export function parseListen(s: string): ListenAddress {
  const bad = (why: string) =>
    new RuntimeError("InvalidArgument", `Invalid listen address "${s.slice(0, 120)}": ${why}`);
  if (s.startsWith("unix://") || s.startsWith("/")) {
    const path = s.startsWith("unix://") ? s.slice("unix://".length) : s;
    if (!path.startsWith("/")) throw bad("the socket path must be absolute");
    if (new TextEncoder().encode(path).length > 107) throw bad("the socket path is longer than 107 bytes");
    return { kind: "unix", path };
  }
  const m = /^tcp:\/\/(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(s);
  if (m === null) throw bad("expected unix:///path or tcp://host:port");
  const port = Number(m[2]);
  if (port > 65535) throw bad("the port must be 0-65535");
  return { kind: "tcp", hostname: m[1]!.replace(/^\[|\]$/g, ""), port };
}

/** A printable form of an address (`tcp://127.0.0.1:41234` with the port actually bound). Pure. */
export function formatListen(a: ListenAddress): string {
  return a.kind === "unix"
    ? `unix://${a.path}`
    : `tcp://${a.hostname.includes(":") ? `[${a.hostname}]` : a.hostname}:${a.port}`;
}

export interface ApiServer {
  /** What is listened on (TCP with the bound port). */
  readonly addresses: readonly ListenAddress[];
  /** Stops accepting, waits for open requests, removes the unix sockets. */
  close(): Promise<void>;
}

type Handler = (req: Request) => Response | Promise<Response>;

/** Listens on every address; on a failure, closes those already opened. */
export async function serveApi(
  handler: Handler,
  listen: readonly ListenAddress[],
  opts: {
    log: Logger;
    /** The listeners do not keep the process alive (an API embedded in a daemon that exits when idle). */
    unref?: boolean;
  },
): Promise<ApiServer> {
  const servers: { server: Deno.HttpServer; address: ListenAddress }[] = [];
  const closeAll = async () => {
    for (const { server, address } of servers) {
      await server.shutdown().catch(() => {});
      if (address.kind === "unix") await Deno.remove(address.path).catch(() => {});
    }
  };
  try {
    for (const a of listen) {
      if (a.kind === "unix") {
        const dir = a.path.slice(0, a.path.lastIndexOf("/"));
        if (dir !== "") await Deno.mkdir(dir, { recursive: true, mode: 0o711 });
        await Deno.remove(a.path).catch(() => {});
        const server = Deno.serve({ path: a.path, onListen: () => {} }, handler);
        if (opts.unref === true) server.unref();
        await Deno.chmod(a.path, 0o600);
        servers.push({ server, address: a });
      } else {
        const bound = Promise.withResolvers<number>();
        const server = Deno.serve(
          { hostname: a.hostname, port: a.port, onListen: (addr) => bound.resolve(addr.port) },
          handler,
        );
        if (opts.unref === true) server.unref();
        servers.push({ server, address: { ...a, port: await bound.promise } });
      }
    }
  } catch (e) {
    await closeAll();
    throw new RuntimeError(
      "Unavailable",
      `Cannot listen for the API: ${e instanceof Error ? e.message : String(e)}`,
      {
        cause: e,
      },
    );
  }
  const addresses = servers.map((s) => s.address);
  opts.log.info("api listening", { addresses: addresses.map(formatListen) });
  let closing: Promise<void> | undefined;
  return { addresses, close: () => closing ??= closeAll() };
}
