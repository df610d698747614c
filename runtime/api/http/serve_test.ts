import assert from "node:assert/strict";
import { Hono } from "hono";
import { createLogger, nullSink } from "../../log/logger.ts";
import { formatListen, parseListen, serveApi } from "./serve.ts";

Deno.test({
  name: "parseListen() accepts unix and tcp addresses and refuses others",
  permissions: "none",
  fn() {
    assert.deepEqual(parseListen("unix:///run/cocoon/api.sock"), {
      kind: "unix",
      path: "/run/cocoon/api.sock",
    });
    assert.deepEqual(parseListen("/tmp/a.sock"), { kind: "unix", path: "/tmp/a.sock" });
    assert.deepEqual(parseListen("tcp://127.0.0.1:0"), { kind: "tcp", hostname: "127.0.0.1", port: 0 });
    assert.deepEqual(parseListen("tcp://[::1]:8080"), { kind: "tcp", hostname: "::1", port: 8080 });
    assert.equal(formatListen({ kind: "tcp", hostname: "::1", port: 1 }), "tcp://[::1]:1");
    for (
      const bad of ["unix://rel.sock", "http://x:1", "tcp://x", "tcp://x:99999", `unix:///${"a".repeat(120)}`]
    ) {
      assert.throws(() => parseListen(bad), { code: "InvalidArgument" });
    }
  },
});

async function unixGet(path: string, url: string): Promise<string> {
  const conn = await Deno.connect({ transport: "unix", path });
  try {
    await conn.write(new TextEncoder().encode(`GET ${url} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
    return await new Response(conn.readable).text();
  } catch (e) {
    conn.close();
    throw e;
  }
}

Deno.test({
  name: "serveApi() answers on a unix socket and a TCP port, and removes the socket on close",
  permissions: "inherit",
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "cocoon-api-" });
    const app = new Hono().get("/x", (c) => c.text("pong"));
    const server = await serveApi(app.fetch, [
      { kind: "unix", path: `${dir}/api.sock` },
      { kind: "tcp", hostname: "127.0.0.1", port: 0 },
    ], { log: createLogger({ level: "error", sink: nullSink }), token: "t0k" });
    try {
      const tcp = server.addresses[1];
      assert.ok(tcp?.kind === "tcp" && tcp.port > 0);
      const r = await fetch(`http://127.0.0.1:${tcp.port}/x`, { headers: { authorization: "Bearer t0k" } });
      assert.equal(await r.text(), "pong");
      const denied = await fetch(`http://127.0.0.1:${tcp.port}/x`);
      await denied.body?.cancel();
      assert.equal(denied.status, 401, "TCP without the token");
      assert.match(await unixGet(`${dir}/api.sock`, "/x"), /^HTTP\/1\.1 200[\s\S]*pong$/);
      assert.equal((await Deno.stat(`${dir}/api.sock`)).mode! & 0o777, 0o600);
    } finally {
      await server.close();
      const gone = await Deno.stat(`${dir}/api.sock`).then(() => false, () => true);
      await Deno.remove(dir, { recursive: true });
      assert.ok(gone, "the socket is removed");
    }
  },
});

Deno.test({
  name: "serveApi() refuses TCP without a token, and a non-loopback address unless public",
  permissions: "inherit",
  async fn() {
    const app = new Hono().get("/x", (c) => c.text("pong"));
    const log = createLogger({ level: "error", sink: nullSink });
    await assert.rejects(
      serveApi(app.fetch, [{ kind: "tcp", hostname: "127.0.0.1", port: 0 }], { log }),
      /TCP needs the API token/,
    );
    await assert.rejects(
      serveApi(app.fetch, [{ kind: "tcp", hostname: "0.0.0.0", port: 0 }], { log, token: "t" }),
      /not a loopback address.*--listen-public/,
    );
    const pub = await serveApi(app.fetch, [{ kind: "tcp", hostname: "0.0.0.0", port: 0 }], {
      log,
      token: "t",
      public: true,
    });
    await pub.close();
  },
});
