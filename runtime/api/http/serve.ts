/**
 * Serving the API app on unix sockets (`unix:///run/cocoon/api.sock`, 0600) and TCP
 * (`tcp://127.0.0.1:8080`; port 0 picks a free one). TCP needs the API token and, unless asked
 * for with `public`, a loopback address; every listener checks requests (access.ts).
 *
 * @module
 */
import { RuntimeError } from "../../errors.ts";
import type { Logger } from "../../log/logger.ts";
import { listenPrivate } from "../../sys/private_socket.ts";
import { guarded, isLoopback, loopbackHosts } from "./access.ts";

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
    /** The bearer token TCP listeners require (none: TCP is refused). */
    token?: string;
    /** Allow TCP on addresses other than loopback (`--listen-public`). */
    public?: boolean;
    /** Cap of a request body (default 1 MiB). */
    maxBody?: number;
  },
): Promise<ApiServer> {
  for (const a of listen) {
    if (a.kind !== "tcp") continue;
    if (opts.token === undefined) {
      throw new RuntimeError(
        "InvalidArgument",
        `Cannot listen on ${formatListen(a)}: TCP needs the API token (no token file was given)`,
      );
    }
    if (!isLoopback(a.hostname) && opts.public !== true) {
      throw new RuntimeError(
        "InvalidArgument",
        `Cannot listen on ${formatListen(a)}: not a loopback address; anyone who can reach it could try ` +
          "the token, so say so with --listen-public (or [runtime] api_listen_public = true)",
      );
    }
  }
  const limits = opts.maxBody !== undefined ? { maxBody: opts.maxBody } : {};
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
        const h = guarded(handler, { kind: "socket" }, limits);
        const server = await listenPrivate(a.path, (path) => Deno.serve({ path, onListen: () => {} }, h), {
          close: (s) => s.shutdown(),
        });
        if (opts.unref === true) server.unref();
        servers.push({ server, address: a });
      } else {
        const bound = Promise.withResolvers<number>();
        let h: (req: Request) => Response | Promise<Response> = () =>
          new Response("not listening yet", { status: 503 });
        const server = Deno.serve(
          { hostname: a.hostname, port: a.port, onListen: (addr) => bound.resolve(addr.port) },
          (req) => h(req),
        );
        const port = await bound.promise;
        const name = a.hostname.includes(":") ? `[${a.hostname}]` : a.hostname;
        const hosts = isLoopback(a.hostname) ? new Set([...loopbackHosts(port), `${name}:${port}`]) : null;
        h = guarded(handler, { kind: "token", token: opts.token ?? "", hosts }, limits);
        if (opts.unref === true) server.unref();
        servers.push({ server, address: { ...a, port } });
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
