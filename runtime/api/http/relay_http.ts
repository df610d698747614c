/**
 * A sandbox that a daemon holds is acted on by that daemon: the standalone API passes the request
 * through to the daemon's API socket as it came (method, path, query, JSON body) and passes the
 * answer back as it comes, an exec's NDJSON stream and the daemon's own errors included. Only the
 * guest stats are read here, for the host-wide `/metrics`.
 *
 * @module
 */
import { RuntimeError } from "../../errors.ts";
import { isRecord } from "../../sys/files.ts";
import type { GuestStatsView } from "./types.ts";

/** `req`, sent to the API on `socket`; its answer, streamed. @throws {RuntimeError} Unavailable */
export async function relayHttp(req: Request, socket: string): Promise<Response> {
  const url = new URL(req.url);
  const client = Deno.createHttpClient({ proxy: { transport: "unix", path: socket } });
  let res: Response;
  try {
    const bodied = req.method !== "GET" && req.method !== "HEAD";
    res = await fetch(`http://cocoon${url.pathname}${url.search}`, {
      client,
      method: req.method,
      signal: req.signal,
      // every mutating request is JSON (access.ts); the access guard bounded the body already
      ...(bodied ? { headers: { "content-type": "application/json" }, body: await req.arrayBuffer() } : {}),
    });
  } catch (e) {
    client.close();
    throw new RuntimeError("Unavailable", `Cannot reach the API of the daemon on "${socket}": ${String(e)}`, {
      cause: e,
    });
  }
  const headers = { "content-type": res.headers.get("content-type") ?? "application/json" };
  if (res.body === null) {
    client.close();
    return new Response(null, { status: res.status, headers });
  }
  const reader = res.body.getReader();
  const body = new ReadableStream<Uint8Array>({
    async pull(ctrl) {
      const r = await reader.read().catch(() => ({ done: true as const, value: undefined }));
      if (!r.done) return ctrl.enqueue(r.value);
      ctrl.close();
      client.close();
    },
    cancel(reason) {
      void reader.cancel(reason).catch(() => {});
      client.close();
    },
  }, { highWaterMark: 0 });
  return new Response(body, { status: res.status, headers });
}

/** The guest stats of sandbox `id` from the daemon on `socket` (null when it has none or is unreachable). */
export async function daemonGuestStats(
  socket: string,
  id: string,
  signal?: AbortSignal,
): Promise<GuestStatsView[] | null> {
  const path = `http://cocoon/v1/sandboxes/${encodeURIComponent(id)}/metrics`;
  const res = await relayHttp(new Request(path, signal ? { signal } : {}), socket).catch(() => null);
  return res !== null && res.ok ? parseGuestStats(await res.text()) : null;
}

function numOrNull(x: unknown): number | null {
  return typeof x === "number" && Number.isFinite(x) ? x : null;
}

/** The `guest` field of a `/v1/sandboxes/:id/metrics` answer. Pure. */
export function parseGuestStats(text: string): GuestStatsView[] | null {
  let x: unknown;
  try {
    x = JSON.parse(text);
  } catch {
    return null;
  }
  const g = isRecord(x) ? x["guest"] : undefined;
  if (!Array.isArray(g)) return null;
  return g.filter(isRecord).filter((s) => typeof s["containerId"] === "string").map((s) => ({
    containerId: String(s["containerId"]),
    cpuSeconds: numOrNull(s["cpuSeconds"]),
    memoryBytes: numOrNull(s["memoryBytes"]),
    memoryLimitBytes: numOrNull(s["memoryLimitBytes"]),
    pids: numOrNull(s["pids"]),
  }));
}
