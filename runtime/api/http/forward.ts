/**
 * A standalone API's client for a front door's API socket (front_door.ts): which sandboxes it holds,
 * and actions forwarded to it. Its JSON errors come back as RuntimeErrors with the same code and
 * message; a refusal (409) keeps the owner as this side sees it.
 *
 * @module
 */
import { ERROR_CODES, type ErrorCode, RuntimeError } from "../../errors.ts";
import { OwnerConflictError } from "./http_errors.ts";
import type { ExecEvent, ExecRequest, GuestStatsView, SandboxOwner } from "./types.ts";
import { isRecord } from "../../sys/files.ts";

type ProcessOwner = Extract<SandboxOwner, { kind: "process" }>;

function isErrorCode(x: unknown): x is ErrorCode {
  return typeof x === "string" && ERROR_CODES.some((c) => c === x);
}

/** The error of a front door's non-2xx answer. Pure. */
function forwardedError(owner: ProcessOwner, status: number, text: string): RuntimeError {
  let x: unknown;
  try {
    x = JSON.parse(text);
  } catch {
    x = undefined;
  }
  const err = isRecord(x) ? x["error"] : undefined;
  if (isRecord(err) && isErrorCode(err["code"]) && typeof err["message"] === "string") {
    return err["code"] === "FailedPrecondition"
      ? new OwnerConflictError(owner, err["message"])
      : new RuntimeError(err["code"], err["message"]);
  }
  return new RuntimeError(
    "Unavailable",
    `Cannot use the API of cocoon ${owner.role} (pid ${owner.pid}): it answered HTTP ${status}`,
  );
}

interface Call {
  readonly method: "GET" | "POST" | "DELETE";
  readonly path: string;
  readonly body?: string;
  readonly signal?: AbortSignal;
}

/** One request to the API on `socket`; the response's body must be consumed or cancelled. */
async function request(socket: string, c: Call): Promise<{ res: Response; done: () => void }> {
  const client = Deno.createHttpClient({ proxy: { transport: "unix", path: socket } });
  try {
    const res = await fetch(`http://cocoon${c.path}`, {
      client,
      method: c.method,
      // every mutating request is JSON (access.ts), bodiless ones too
      ...(c.method !== "GET" ? { headers: { "content-type": "application/json" } } : {}),
      ...(c.body !== undefined ? { body: c.body } : {}),
      ...(c.signal !== undefined ? { signal: c.signal } : {}),
    });
    return { res, done: () => client.close() };
  } catch (e) {
    client.close();
    throw new RuntimeError("Unavailable", `Cannot reach the API on "${socket}": ${String(e)}`, { cause: e });
  }
}

const sandboxPath = (id: string) => `/v1/sandboxes/${encodeURIComponent(id)}`;

/** Runs one action on the owner's API; throws its error. */
async function act(o: ProcessOwner, api: string, c: Call): Promise<string> {
  const { res, done } = await request(api, c);
  try {
    const text = await res.text();
    if (!res.ok) throw forwardedError(o, res.status, text);
    return text;
  } finally {
    done();
  }
}

/** Actions on a sandbox held by another front door, through its API socket. */
export interface Forwarder {
  pause(id: string): Promise<void>;
  resume(id: string): Promise<void>;
  delete(id: string, force: boolean): Promise<void>;
  deleteContainer(id: string, cid: string, force: boolean): Promise<void>;
  exec(
    id: string,
    cid: string,
    req: ExecRequest,
    opts?: { signal?: AbortSignal },
  ): Promise<AsyncIterable<ExecEvent>>;
  guestStats(id: string, opts?: { signal?: AbortSignal }): Promise<GuestStatsView[] | null>;
}

export function forwarder(o: ProcessOwner, api: string): Forwarder {
  return {
    async pause(id) {
      await act(o, api, { method: "POST", path: `${sandboxPath(id)}/pause` });
    },
    async resume(id) {
      await act(o, api, { method: "POST", path: `${sandboxPath(id)}/resume` });
    },
    async delete(id, force) {
      await act(o, api, { method: "DELETE", path: `${sandboxPath(id)}?force=${force}` });
    },
    async deleteContainer(id, cid, force) {
      await act(o, api, {
        method: "DELETE",
        path: `${sandboxPath(id)}/containers/${encodeURIComponent(cid)}?force=${force}`,
      });
    },
    async exec(id, cid, req, opts = {}) {
      const { res, done } = await request(api, {
        method: "POST",
        path: `${sandboxPath(id)}/containers/${encodeURIComponent(cid)}/exec`,
        body: JSON.stringify(req),
        ...opts,
      });
      if (!res.ok || res.body === null) {
        const text = await res.text().catch(() => "");
        done();
        throw forwardedError(o, res.status, text);
      }
      return execEvents(res.body, done);
    },
    async guestStats(id, opts = {}) {
      const text = await act(o, api, { method: "GET", path: `${sandboxPath(id)}/metrics`, ...opts });
      return parseGuestStats(text);
    },
  };
}

/** The ExecEvents of an NDJSON body; a line that is no event ends the stream with an error event. */
async function* execEvents(body: ReadableStream<Uint8Array>, done: () => void): AsyncGenerator<ExecEvent> {
  const dec = new TextDecoder();
  let buf = "";
  try {
    for await (const chunk of body) {
      buf += dec.decode(chunk, { stream: true });
      for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.trim() === "") continue;
        const e = parseExecEvent(line);
        yield e;
        if (e.kind === "exit" || e.kind === "error") return;
      }
    }
    yield { kind: "error", code: "Unavailable", message: "The exec stream ended without an exit status" };
  } finally {
    await body.cancel().catch(() => {});
    done();
  }
}

/** One NDJSON line of an exec stream. Pure. */
export function parseExecEvent(line: string): ExecEvent {
  let x: unknown;
  try {
    x = JSON.parse(line);
  } catch {
    x = undefined;
  }
  if (isRecord(x)) {
    const k = x["kind"];
    if (k === "started" && typeof x["execId"] === "string") return { kind: k, execId: x["execId"] };
    if ((k === "stdout" || k === "stderr") && typeof x["data"] === "string") {
      return { kind: k, data: x["data"] };
    }
    if (k === "exit" && typeof x["status"] === "number") return { kind: k, status: x["status"] };
    if (k === "error" && isErrorCode(x["code"]) && typeof x["message"] === "string") {
      return { kind: k, code: x["code"], message: x["message"] };
    }
  }
  return { kind: "error", code: "DataLoss", message: `Invalid exec event: "${line.slice(0, 80)}"` };
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
