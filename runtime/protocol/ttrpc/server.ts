/**
 * ttRPC server: services registered by full name, any number of connections (unix socket
 * listeners or given duplexes), handlers run concurrently (a blocking `Wait` never holds up other
 * calls), errors mapped to statuses in one place (`status.ts`).
 *
 * @module
 */
import { listenPrivate } from "../../sys/private_socket.ts";
import { ProtocolError } from "../../errors.ts";
import { type Logger, rootLog } from "../../log/logger.ts";
import { Channel, type ChannelOptions, connDuplex, type Duplex } from "./channel.ts";
import { type Lookup, serveChannel, type ServeChannelOptions } from "./server_conn.ts";
import { Code } from "./status.ts";
import type { MethodHandler, ServiceHandlers } from "./handler.ts";

export {
  type CallContext,
  type MethodHandler,
  type ServiceHandlers,
  type StreamHandler,
  streamHandler,
  type UnaryHandler,
} from "./handler.ts";

/** Options of a {@link TtrpcServer}. */
export interface ServerOptions extends ChannelOptions {
  log?: Logger;
}

/** Options of {@link TtrpcServer.listen}. */
export interface ListenOptions {
  /** File mode of the socket (e.g. 0o600). */
  mode?: number;
  /** Remove a stale socket file at `path` first. Default false. */
  replace?: boolean;
}

/** A ttRPC server. */
export class TtrpcServer {
  readonly #services = new Map<string, Map<string, MethodHandler>>();
  readonly #log: Logger;
  readonly #channelOpts: ChannelOptions;
  readonly #listeners = new Map<Deno.Listener, string | undefined>();
  readonly #channels = new Set<Channel>();
  readonly #tasks = new Set<Promise<void>>();
  #closed = false;

  constructor(opts: ServerOptions = {}) {
    this.#log = opts.log ?? rootLog().child({ subsystem: "ttrpc-server" });
    this.#channelOpts = opts.maxPayload !== undefined ? { maxPayload: opts.maxPayload } : {};
  }

  /** Registers the handlers of `service` (full name, e.g. `containerd.task.v2.Task`). */
  register(service: string, handlers: ServiceHandlers): this {
    if (this.#services.has(service)) {
      throw new ProtocolError("AlreadyExists", `Cannot register service "${service}": already registered`);
    }
    this.#services.set(service, new Map(Object.entries(handlers)));
    return this;
  }

  /** Binds a unix socket at `path` and serves every connection on it until `close()`. */
  async listen(path: string, opts: ListenOptions = {}): Promise<void> {
    this.#assertOpen(`listen on "${path}"`);
    if (opts.replace) {
      await Deno.remove(path).catch((e) => {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      });
    }
    let listener: Deno.Listener;
    try {
      listener = opts.mode === undefined
        ? Deno.listen({ transport: "unix", path })
        : await listenPrivate(path, (p) => Deno.listen({ transport: "unix", path: p }), {
          mode: opts.mode,
          close: (x) => x.close(),
        });
    } catch (e) {
      throw new ProtocolError(
        "Unavailable",
        `Cannot listen on "${path}": ${e instanceof Error ? e.message : e}`,
        {
          cause: e,
        },
      );
    }
    this.#track(this.#accept(listener, path));
  }

  /** Serves connections accepted from `listener` (closed by `close()`). */
  serve(listener: Deno.Listener): Promise<void> {
    this.#assertOpen("serve a listener");
    const p = this.#accept(listener, undefined);
    this.#track(p);
    return p;
  }

  /** Serves one connection; resolves when it closes. */
  serveConnection(transport: Duplex | Channel, opts: ServeChannelOptions = {}): Promise<void> {
    const channel = transport instanceof Channel ? transport : new Channel(transport, this.#channelOpts);
    if (this.#closed) {
      channel.close();
      return Promise.resolve();
    }
    this.#channels.add(channel);
    const p = serveChannel(channel, this.#lookup, this.#log, opts).finally(() =>
      this.#channels.delete(channel)
    );
    this.#track(p);
    return p;
  }

  /** Stops listening (removing the socket files it created), closes every connection, aborts handlers. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const [l, path] of this.#listeners) {
      try {
        l.close();
      } catch {
        // already closed
      }
      if (path !== undefined) await Deno.remove(path).catch(() => {});
    }
    this.#listeners.clear();
    for (const c of this.#channels) c.close();
    await Promise.allSettled([...this.#tasks]);
  }

  readonly #lookup: Lookup = (service, method) => {
    const svc = this.#services.get(service);
    if (svc === undefined) return { kind: "missing", status: unimplemented(`service ${service}`) };
    const handler = svc.get(method);
    if (handler === undefined) return { kind: "missing", status: unimplemented(`method ${method}`) };
    return { kind: "found", handler };
  };

  async #accept(listener: Deno.Listener, path: string | undefined): Promise<void> {
    this.#listeners.set(listener, path);
    try {
      for await (const conn of listener) {
        if (this.#closed) {
          conn.close();
          break;
        }
        void this.serveConnection(connDuplex(conn));
      }
    } catch (e) {
      if (!this.#closed) {
        this.#log.error("accept failed", { error: e instanceof Error ? e.message : String(e) });
      }
    } finally {
      this.#listeners.delete(listener);
    }
  }

  #track(p: Promise<void>): void {
    this.#tasks.add(p);
    p.finally(() => this.#tasks.delete(p));
  }

  #assertOpen(what: string): void {
    if (this.#closed) throw new ProtocolError("Unavailable", `Cannot ${what}: server closed`);
  }
}

function unimplemented(message: string) {
  return { code: Code.UNIMPLEMENTED, message, details: [] };
}
