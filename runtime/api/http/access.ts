/**
 * Who may use the management API, checked before a request reaches the app. The API acts as root
 * (exec runs with every capability in a container), so:
 *
 * - on a unix socket, the socket's mode (0600, root) is the authentication;
 * - on TCP, every request carries the bearer token (`Authorization: Bearer …`, or the HttpOnly
 *   SameSite=Strict cookie that `GET /?token=…` sets for the dashboard), compared in constant time;
 * - on loopback TCP the Host header must name the listener (`127.0.0.1:PORT`, `localhost:PORT`,
 *   `[::1]:PORT`): a DNS-rebound page sends its own name;
 * - a request with an Origin header must come from the API's own origin;
 * - POST, PUT and PATCH must be `application/json` (a web page's form or `text/plain` "simple
 *   request" is refused without a CORS preflight ever being skipped), as must a DELETE with a body;
 * - a body is read at most `maxBody` bytes, streaming, and refused beyond (413).
 *
 * @module
 */
import { timingSafeEqual } from "node:crypto";

/** The policy of one listener. */
export type ApiAccess =
  | { readonly kind: "socket" }
  | {
    readonly kind: "token";
    readonly token: string;
    /** Host header values accepted; null: whatever it says (a public listener, where the token is the guard). */
    readonly hosts: ReadonlySet<string> | null;
  };

/** Default cap of a request body (1 MiB). */
export const MAX_BODY = 1 << 20;

export const TOKEN_COOKIE = "cocoon_token";

type Handler = (req: Request) => Response | Promise<Response>;

function refuse(
  status: number,
  code: string,
  message: string,
  headers: Record<string, string> = {},
): Response {
  return Response.json({ error: { code, message } }, { status, headers });
}

function sameToken(given: string, token: string): boolean {
  const a = new TextEncoder().encode(given), b = new TextEncoder().encode(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

function cookieToken(req: Request): string | null {
  for (const part of (req.headers.get("cookie") ?? "").split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k === TOKEN_COOKIE) return v.join("=");
  }
  return null;
}

function bearer(req: Request): string | null {
  const m = /^Bearer\s+(\S+)$/i.exec(req.headers.get("authorization") ?? "");
  return m?.[1] ?? null;
}

/** Host names a loopback listener on `port` answers to. Pure. */
export function loopbackHosts(port: number): Set<string> {
  return new Set([`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`]);
}

/** Whether `hostname` is a loopback address or name. Pure. */
export function isLoopback(hostname: string): boolean {
  return hostname === "localhost" || hostname === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
}

const MUTATING = new Set(["POST", "PUT", "PATCH", "DELETE"]);

function hasBody(req: Request): boolean {
  return req.body !== null && req.headers.get("content-length") !== "0";
}

function isJson(req: Request): boolean {
  const type = (req.headers.get("content-type") ?? "").split(";")[0]?.trim().toLowerCase();
  return type === "application/json";
}

/** The body read up to `max` bytes; null when it is longer. */
async function cappedBody(req: Request, max: number): Promise<Uint8Array<ArrayBuffer> | null> {
  const len = Number(req.headers.get("content-length") ?? "0");
  if (len > max) {
    await req.body?.cancel().catch(() => {});
    return null;
  }
  if (req.body === null) return new Uint8Array();
  let buf: Uint8Array<ArrayBuffer> = new Uint8Array(
    Math.min(Number.isFinite(len) && len > 0 ? len : 4096, max),
  );
  let size = 0;
  const r = req.body.getReader();
  for (;;) {
    const x = await r.read();
    if (x.done) break;
    if (size + x.value.length > max) {
      await r.cancel().catch(() => {});
      return null;
    }
    if (size + x.value.length > buf.length) {
      const next = new Uint8Array(Math.min(max, Math.max(buf.length * 2, size + x.value.length)));
      next.set(buf.subarray(0, size));
      buf = next;
    }
    buf.set(x.value, size);
    size += x.value.length;
  }
  return buf.subarray(0, size);
}

/** `handler` behind the checks of `access`. */
export function guarded(handler: Handler, access: ApiAccess, opts: { maxBody?: number } = {}): Handler {
  const maxBody = opts.maxBody ?? MAX_BODY;
  return async (req) => {
    const url = new URL(req.url);
    const host = req.headers.get("host") ?? "";
    if (access.kind === "token") {
      if (access.hosts !== null && !access.hosts.has(host.toLowerCase())) {
        return refuse(
          421,
          "PermissionDenied",
          `Host "${host.slice(0, 80)}" is not this API's address: use ${[...access.hosts][0]}`,
        );
      }
      const given = bearer(req) ?? cookieToken(req);
      if (given === null || !sameToken(given, access.token)) {
        // The dashboard's way in: a link with the token sets the cookie, then the token leaves the URL.
        const q = url.searchParams.get("token");
        if (req.method === "GET" && url.pathname === "/" && q !== null && sameToken(q, access.token)) {
          return new Response(null, {
            status: 303,
            headers: {
              location: "/",
              "set-cookie": `${TOKEN_COOKIE}=${access.token}; HttpOnly; SameSite=Strict; Path=/`,
            },
          });
        }
        return refuse(
          401,
          "Unauthenticated",
          "This API needs its token: send `Authorization: Bearer <token>` (`cocoon api token` prints it)",
          { "www-authenticate": 'Bearer realm="cocoon"' },
        );
      }
    }
    const origin = req.headers.get("origin");
    if (origin !== null && origin !== `http://${host}` && origin !== `https://${host}`) {
      return refuse(403, "PermissionDenied", `Origin "${origin.slice(0, 80)}" may not use this API`);
    }
    if (!MUTATING.has(req.method)) return await handler(req);
    if ((req.method !== "DELETE" || hasBody(req)) && !isJson(req)) {
      return refuse(
        415,
        "InvalidArgument",
        `${req.method} ${url.pathname} needs "Content-Type: application/json"`,
      );
    }
    if (!hasBody(req)) return await handler(req);
    const body = await cappedBody(req, maxBody);
    if (body === null) {
      return refuse(413, "InvalidArgument", `The request body is longer than ${maxBody} bytes`);
    }
    return await handler(new Request(req.url, { method: req.method, headers: req.headers, body }));
  };
}
