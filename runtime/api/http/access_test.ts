import assert from "node:assert/strict";
import { type ApiAccess, guarded, isLoopback, loopbackHosts, TOKEN_COOKIE } from "./access.ts";

const TOKEN = "a".repeat(64);
const tcp: ApiAccess = { kind: "token", token: TOKEN, hosts: loopbackHosts(8090) };
const seen: { method: string; body: string }[] = [];
const app = async (req: Request) => {
  seen.push({ method: req.method, body: await req.text() });
  return Response.json({ ok: true });
};

function req(path: string, init: RequestInit & { host?: string } = {}): Request {
  const headers = new Headers(init.headers);
  headers.set("host", init.host ?? "127.0.0.1:8090");
  return new Request(`http://127.0.0.1:8090${path}`, { ...init, headers });
}

const auth = { authorization: `Bearer ${TOKEN}` };
const json = { ...auth, "content-type": "application/json" };

Deno.test("guarded(): TCP needs the token, by header or by the cookie the dashboard link sets", async () => {
  const h = guarded(app, tcp);
  assert.equal((await h(req("/v1/sandboxes"))).status, 401);
  const wrong = await h(req("/v1/sandboxes", { headers: { authorization: `Bearer ${"b".repeat(64)}` } }));
  assert.equal(wrong.status, 401);
  assert.match(wrong.headers.get("www-authenticate") ?? "", /^Bearer/);
  assert.equal((await h(req("/v1/sandboxes", { headers: { authorization: "Bearer short" } }))).status, 401);
  assert.equal((await h(req("/v1/sandboxes", { headers: auth }))).status, 200);
  // the dashboard: /?token= sets an HttpOnly, SameSite=Strict cookie and sends the token out of the URL
  const link = await h(req(`/?token=${TOKEN}`));
  assert.equal(link.status, 303);
  assert.equal(link.headers.get("location"), "/");
  const cookie = link.headers.get("set-cookie") ?? "";
  assert.match(cookie, /HttpOnly/);
  assert.match(cookie, /SameSite=Strict/);
  assert.equal((await h(req("/?token=nope"))).status, 401);
  assert.equal(
    (await h(req("/v1/sandboxes", { headers: { cookie: `x=1; ${TOKEN_COOKIE}=${TOKEN}` } }))).status,
    200,
  );
});

Deno.test("guarded(): a loopback listener answers only to its own Host; a public one to any", async () => {
  const h = guarded(app, tcp);
  for (const host of ["127.0.0.1:8090", "localhost:8090", "[::1]:8090", "LOCALHOST:8090"]) {
    assert.equal((await h(req("/healthz", { headers: auth, host }))).status, 200, host);
  }
  for (const host of ["evil.example:8090", "127.0.0.1:9999", ""]) {
    assert.equal((await h(req("/healthz", { headers: auth, host }))).status, 421, host);
  }
  const pub = guarded(app, { kind: "token", token: TOKEN, hosts: null });
  assert.equal((await pub(req("/healthz", { headers: auth, host: "cocoon.lan:8090" }))).status, 200);
  assert.equal((await pub(req("/healthz", { host: "cocoon.lan:8090" }))).status, 401);
});

Deno.test("guarded(): a foreign Origin is refused, the API's own passes", async () => {
  const h = guarded(app, tcp);
  const post = (origin: string) => h(req("/v1/x/pause", { method: "POST", headers: { ...json, origin } }));
  assert.equal((await post("http://evil.example")).status, 403);
  assert.equal((await post("http://127.0.0.1:8090")).status, 200);
  const sock = guarded(app, { kind: "socket" });
  assert.equal(
    (await sock(req("/v1/sandboxes", { headers: { origin: "http://evil.example" } }))).status,
    403,
  );
});

Deno.test("guarded(): mutating requests must be JSON; a DELETE without a body needs no type", async () => {
  const h = guarded(app, { kind: "socket" });
  const post = (type: string | null, body?: string) =>
    h(req("/v1/x/exec", {
      method: "POST",
      headers: type === null ? {} : { "content-type": type },
      body: body ?? null,
    }));
  assert.equal((await post("text/plain", '{"args":["id"]}')).status, 415);
  assert.equal((await post("application/x-www-form-urlencoded", "a=b")).status, 415);
  assert.equal((await post(null)).status, 415, "a bodiless POST too");
  assert.equal((await post("application/json; charset=utf-8", '{"args":["id"]}')).status, 200);
  assert.equal(seen.at(-1)?.body, '{"args":["id"]}', "the body reaches the app whole");
  assert.equal((await h(req("/v1/x", { method: "DELETE" }))).status, 200);
  assert.equal(
    (await h(req("/v1/x", { method: "DELETE", headers: { "content-type": "text/plain" }, body: "x" })))
      .status,
    415,
  );
  assert.equal((await h(req("/v1/x"))).status, 200, "GET needs no type");
});

Deno.test("guarded(): a body is capped while it streams, whatever Content-Length says", async () => {
  const h = guarded(app, { kind: "socket" }, { maxBody: 1000 });
  const big = await h(
    req("/v1/x/exec", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "x".repeat(1001),
    }),
  );
  assert.equal(big.status, 413);
  // a chunked body with no length: read until the cap, then refused
  let pulled = 0;
  const endless = new ReadableStream<Uint8Array>({
    pull(c) {
      pulled += 100;
      c.enqueue(new Uint8Array(100));
    },
  });
  const chunked = await h(
    new Request("http://127.0.0.1/v1/x/exec", {
      method: "POST",
      headers: { "content-type": "application/json", host: "127.0.0.1", "transfer-encoding": "chunked" },
      body: endless,
    }),
  );
  assert.equal(chunked.status, 413);
  assert.ok(pulled <= 1200, `read ${pulled} bytes of an endless body`);
  assert.equal(
    (await h(
      req("/v1/x/exec", { method: "POST", headers: { "content-type": "application/json" }, body: "{}" }),
    )).status,
    200,
  );
});

Deno.test("isLoopback() knows loopback names and addresses", () => {
  for (const h of ["127.0.0.1", "127.1.2.3", "::1", "localhost"]) assert.ok(isLoopback(h), h);
  for (const h of ["0.0.0.0", "10.0.0.1", "::", "example.com", "128.0.0.1"]) assert.ok(!isLoopback(h), h);
});
