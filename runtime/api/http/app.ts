/**
 * The management HTTP API as a hono app: JSON routes over an {@link ApiBackend}, `/metrics` in
 * Prometheus text, and the dashboard page. Errors are mapped once, in `onError`.
 *
 * | method | path | answer |
 * | --- | --- | --- |
 * | GET | `/` | the dashboard (HTML + inline script, polls `/v1/sandboxes`) |
 * | GET | `/healthz` | `{"ok":true}` |
 * | GET | `/metrics` | Prometheus text |
 * | GET | `/v1/sandboxes` | `{"sandboxes":[SandboxView]}` |
 * | GET | `/v1/sandboxes/:id` | SandboxView |
 * | GET | `/v1/sandboxes/:id/metrics` | `{"sandbox":SandboxView,"guest":[GuestStatsView] or null}` |
 * | POST | `/v1/sandboxes/:id/pause`, `/resume` | SandboxView after the change |
 * | DELETE | `/v1/sandboxes/:id[?force=true]` | 204 |
 * | GET | `/v1/sandboxes/:id/containers` | `{"containers":[ContainerView]}` |
 * | GET, DELETE | `/v1/sandboxes/:id/containers/:cid[?force=true]` | ContainerView, 204 |
 * | POST | `/v1/sandboxes/:id/containers/:cid/exec` | NDJSON ExecEvents, `exit` last |
 *
 * @module
 */
import { Hono, type MiddlewareHandler } from "hono";
import { RuntimeError } from "../../errors.ts";
import type { Logger } from "../../log/logger.ts";
import { dashboardHtml } from "./dashboard.ts";
import { errorResponse } from "./http_errors.ts";
import { PROMETHEUS_CONTENT_TYPE, renderMetrics } from "./prometheus.ts";
import type { ApiBackend, ExecEvent, ExecRequest, GuestStatsView } from "./types.ts";
import { isRecord } from "../../sys/files.ts";
import { relayHttp } from "./relay_http.ts";

export interface ApiAppOptions {
  readonly log: Logger;
  /** Longest a scrape waits for one sandbox's guest stats, ms (default 5000). */
  readonly guestStatsTimeoutMs?: number;
}

const MAX_BODY = 1 << 20;

/** The hono app of the management API. */
export function createApiApp(backend: ApiBackend, opts: ApiAppOptions): Hono {
  const app = new Hono();
  const log = opts.log;

  app.onError((e, c) => {
    const r = errorResponse(e);
    if (!r.known) log.error("request failed", { method: c.req.method, path: c.req.path, error: e });
    else log.debug("request refused", { method: c.req.method, path: c.req.path, code: r.body.error.code });
    return c.json(r.body, r.status);
  });
  app.notFound((c) =>
    c.json({ error: { code: "NotFound", message: `No route for ${c.req.method} ${c.req.path}` } }, 404)
  );

  app.get("/", (c) => c.html(dashboardHtml()));
  app.get("/healthz", (c) => c.json({ ok: true }));

  app.get("/metrics", async (c) => {
    const sandboxes = await backend.list();
    const guest = new Map<string, GuestStatsView[] | null>();
    await Promise.all(sandboxes.map(async (s) => {
      if (s.state.kind !== "ready" && s.state.kind !== "paused") return;
      guest.set(s.id, await guestStatsWithin(backend, s.id, opts.guestStatsTimeoutMs ?? 5000, log));
    }));
    return c.body(renderMetrics({ sandboxes, guest }), 200, { "content-type": PROMETHEUS_CONTENT_TYPE });
  });

  // A sandbox that a live daemon holds: the daemon acts on it (and answers its guest stats).
  const relayed: MiddlewareHandler = async (c, next) => {
    const id = c.req.param("id");
    const acts = c.req.method !== "GET" || c.req.path.endsWith("/metrics");
    const api = acts && id !== undefined ? await backend.ownerApi?.(id) : undefined;
    if (api === undefined) return await next();
    return await relayHttp(c.req.raw, api);
  };
  app.use("/v1/sandboxes/:id", relayed);
  app.use("/v1/sandboxes/:id/*", relayed);

  app.get("/v1/sandboxes", async (c) => c.json({ sandboxes: await backend.list() }));
  app.get("/v1/sandboxes/:id", async (c) => c.json(await backend.get(c.req.param("id"))));
  app.get("/v1/sandboxes/:id/metrics", async (c) => {
    const id = c.req.param("id");
    const sandbox = await backend.get(id);
    const running = sandbox.state.kind === "ready" || sandbox.state.kind === "paused";
    const guest = running ? await guestStatsWithin(backend, id, opts.guestStatsTimeoutMs ?? 5000, log) : null;
    return c.json({ sandbox, guest });
  });
  app.post("/v1/sandboxes/:id/pause", async (c) => {
    await backend.pause(c.req.param("id"));
    return c.json(await backend.get(c.req.param("id")));
  });
  app.post("/v1/sandboxes/:id/resume", async (c) => {
    await backend.resume(c.req.param("id"));
    return c.json(await backend.get(c.req.param("id")));
  });
  app.delete("/v1/sandboxes/:id", async (c) => {
    await backend.delete(c.req.param("id"), { force: forceOf(c.req.query("force")) });
    return c.body(null, 204);
  });
  app.get(
    "/v1/sandboxes/:id/containers",
    async (c) => c.json({ containers: await backend.containers(c.req.param("id")) }),
  );
  app.get(
    "/v1/sandboxes/:id/containers/:cid",
    async (c) => c.json(await backend.container(c.req.param("id"), c.req.param("cid"))),
  );
  app.delete("/v1/sandboxes/:id/containers/:cid", async (c) => {
    await backend.deleteContainer(c.req.param("id"), c.req.param("cid"), {
      force: forceOf(c.req.query("force")),
    });
    return c.body(null, 204);
  });
  app.post("/v1/sandboxes/:id/containers/:cid/exec", async (c) => {
    const text = await c.req.text();
    if (text.length > MAX_BODY) {
      throw new RuntimeError("InvalidArgument", "Invalid exec request: body too large");
    }
    const req = parseExecRequest(text);
    const events = await backend.exec(c.req.param("id"), c.req.param("cid"), req, {
      signal: c.req.raw.signal,
    });
    return new Response(ndjson(events, log), {
      status: 200,
      headers: { "content-type": "application/x-ndjson; charset=utf-8", "cache-control": "no-store" },
    });
  });
  return app;
}

function forceOf(q: string | undefined): boolean {
  if (q === undefined || q === "" || q === "false" || q === "0") return false;
  if (q === "true" || q === "1") return true;
  throw new RuntimeError(
    "InvalidArgument",
    `Invalid query "force": expected true or false: current value is "${q.slice(0, 20)}"`,
  );
}

async function guestStatsWithin(
  backend: ApiBackend,
  id: string,
  ms: number,
  log: Logger,
): Promise<GuestStatsView[] | null> {
  const signal = AbortSignal.timeout(ms);
  try {
    return await Promise.race([
      backend.guestStats(id, { signal }),
      new Promise<null>((r) => signal.addEventListener("abort", () => r(null), { once: true })),
    ]);
  } catch (e) {
    log.limited.debug("guest stats unavailable", { sandbox: id, error: e });
    return null;
  }
}

/** Validates the JSON body of an exec request. Pure. @throws {RuntimeError} InvalidArgument */
export function parseExecRequest(text: string): ExecRequest {
  const bad = (why: string) => new RuntimeError("InvalidArgument", `Invalid exec request: ${why}`);
  let x: unknown;
  try {
    x = JSON.parse(text);
  } catch (e) {
    throw new RuntimeError("InvalidArgument", "Invalid exec request: the body is not JSON", { cause: e });
  }
  if (!isRecord(x)) throw bad("expected an object");
  const args = x["args"];
  if (!Array.isArray(args) || args.length === 0 || !args.every((a) => typeof a === "string")) {
    throw bad('"args" must be a non-empty array of strings');
  }
  const env = x["env"];
  let envOut: Record<string, string> | undefined;
  if (env !== undefined) {
    if (!isRecord(env)) throw bad('"env" must be an object of strings');
    envOut = {};
    for (const [k, v] of Object.entries(env)) {
      if (typeof v !== "string") throw bad(`"env.${k.slice(0, 40)}" must be a string`);
      envOut[k] = v;
    }
  }
  const cwd = x["cwd"];
  if (cwd !== undefined && (typeof cwd !== "string" || !cwd.startsWith("/"))) {
    throw bad('"cwd" must be an absolute path');
  }
  return {
    args: args.map(String),
    ...(envOut !== undefined ? { env: envOut } : {}),
    ...(typeof cwd === "string" ? { cwd } : {}),
  };
}

function ndjson(events: AsyncIterable<ExecEvent>, log: Logger): ReadableStream<Uint8Array> {
  const enc = new TextEncoder();
  const it = events[Symbol.asyncIterator]();
  return new ReadableStream<Uint8Array>({
    async pull(ctrl) {
      try {
        const r = await it.next();
        if (r.done) ctrl.close();
        else ctrl.enqueue(enc.encode(`${JSON.stringify(r.value)}\n`));
      } catch (e) {
        log.warn("exec stream failed", { error: e });
        const er = errorResponse(e);
        ctrl.enqueue(enc.encode(`${JSON.stringify({ kind: "error", ...er.body.error })}\n`));
        ctrl.close();
      }
    },
    async cancel() {
      await it.return?.();
    },
  });
}
