/**
 * The CLI side of the holder's control socket: one request per connection; `exec` keeps the
 * connection as the process's stdio stream.
 *
 * @module
 */
import { RuntimeError } from "../errors.ts";
import { type HolderRequest, jsonBytes, parseResponse, WireReader } from "./wire.ts";

export interface HolderConnection {
  readonly conn: Deno.UnixConn;
  readonly reader: WireReader;
  readonly result: unknown;
}

async function connect(socket: string, timeoutMs: number): Promise<Deno.UnixConn> {
  try {
    return await withTimeout(Deno.connect({ transport: "unix", path: socket }), timeoutMs, socket);
  } catch (e) {
    if (e instanceof RuntimeError) throw e;
    const why = e instanceof Error ? e.message : String(e);
    throw new RuntimeError("Unavailable", `Cannot reach the container's holder at "${socket}": ${why}`, {
      cause: e,
    });
  }
}

/** Sends `req` and returns the connection with the result (the caller closes it). */
export async function openHolder(
  socket: string,
  req: HolderRequest,
  opts: { timeoutMs?: number } = {},
): Promise<HolderConnection> {
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const conn = await connect(socket, timeoutMs);
  try {
    const w = conn.writable.getWriter();
    await w.write(jsonBytes(req));
    await w.write(new Uint8Array([10]));
    w.releaseLock();
    const reader = new WireReader(conn.readable);
    const line = await withTimeout(reader.readJsonLine(), timeoutMs, socket);
    if (line === null) {
      throw new RuntimeError("Unavailable", `The container's holder closed "${socket}" without answering`);
    }
    const r = parseResponse(line);
    if (!r.ok) throw new RuntimeError(r.code, r.message);
    return { conn, reader, result: r.result };
  } catch (e) {
    closeQuietly(conn);
    throw e;
  }
}

/** One request, one answer. */
export async function callHolder(
  socket: string,
  req: HolderRequest,
  opts: { timeoutMs?: number } = {},
): Promise<unknown> {
  const h = await openHolder(socket, req, opts);
  closeQuietly(h.conn);
  return h.result;
}

function withTimeout<T>(p: Promise<T>, ms: number, socket: string): Promise<T> {
  const late = Promise.withResolvers<never>();
  const t = setTimeout(
    () =>
      late.reject(
        new RuntimeError(
          "DeadlineExceeded",
          `The container's holder at "${socket}" did not answer in ${ms} ms`,
        ),
      ),
    ms,
  );
  return Promise.race([p, late.promise]).finally(() => clearTimeout(t));
}

/** Closes `conn`, which may be closed already. */
export function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch { /* closed */ }
}
