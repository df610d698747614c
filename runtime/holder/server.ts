/**
 * The holder's control server: a unix socket, one request per connection, each connection served
 * in its own task (a long exec stream never holds up a `state` or `kill`).
 *
 * @module
 */
import { listenPrivate } from "../sys/private_socket.ts";
import { toRuntimeError } from "../errors.ts";
import type { Logger } from "../log/logger.ts";
import { atMost } from "./relay.ts";
import { type HolderRequest, jsonBytes, parseRequest, WireReader } from "./wire.ts";

/** A connection after its request line: handlers that stream keep using it. */
export interface ControlConn {
  readonly conn: Deno.UnixConn;
  readonly reader: WireReader;
  readonly writer: WritableStreamDefaultWriter<Uint8Array>;
  /** Writes the success line; a streaming handler calls it before streaming. */
  reply(result: unknown): Promise<void>;
}

export type Handler = (req: HolderRequest, conn: ControlConn) => Promise<unknown>;

export class ControlServer {
  readonly #listener: Deno.UnixListener;
  readonly #path: string;
  readonly #open = new Set<Promise<void>>();
  readonly #loop: Promise<void>;

  private constructor(listener: Deno.UnixListener, path: string, handler: Handler, log: Logger) {
    this.#listener = listener;
    this.#path = path;
    this.#loop = (async () => {
      try {
        for await (const conn of listener) {
          const p = serve(conn, handler, log).finally(() => this.#open.delete(p));
          this.#open.add(p);
        }
      } catch (e) {
        log.debug("control socket closed", { error: e });
      }
    })();
  }

  /** Listens on `path` (a stale socket file there is replaced). */
  static async listen(path: string, handler: Handler, log: Logger): Promise<ControlServer> {
    const l = await listenPrivate(path, (p) => Deno.listen({ transport: "unix", path: p }), {
      close: (x) => x.close(),
    });
    return new ControlServer(l, path, handler, log);
  }

  /** Stops accepting, waits (up to 3 s) for open connections, removes the socket file. */
  async close(): Promise<void> {
    try {
      this.#listener.close();
    } catch { /* closed */ }
    await this.#loop;
    await atMost(Promise.all([...this.#open]), 3000);
    await Deno.remove(this.#path).catch(() => {});
  }
}

async function serve(conn: Deno.UnixConn, handler: Handler, log: Logger): Promise<void> {
  const reader = new WireReader(conn.readable);
  const writer = conn.writable.getWriter();
  let replied = false;
  const send = async (obj: unknown) => {
    await writer.write(jsonBytes(obj));
    await writer.write(new Uint8Array([10]));
  };
  const c: ControlConn = {
    conn,
    reader,
    writer,
    reply: async (result) => {
      const line = jsonBytes({ ok: true, result: result ?? null }); // may throw: then an error is sent
      replied = true;
      await writer.write(line);
      await writer.write(new Uint8Array([10]));
    },
  };
  try {
    const line = await reader.readJsonLine();
    if (line === null) return;
    const req = parseRequest(line);
    log.debug("control request", { op: req.op });
    const result = await handler(req, c);
    if (!replied) await c.reply(result);
  } catch (e) {
    const err = toRuntimeError(e);
    if (err.code === "Internal") log.error("control request failed", { error: e });
    if (!replied) await send({ ok: false, code: err.code, message: err.message }).catch(() => {});
  } finally {
    reader.cancel();
    try {
      writer.releaseLock();
      conn.close();
    } catch { /* closed */ }
  }
}
