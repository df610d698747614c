/**
 * The management HTTP API in front of an OCI-CLI container on real QEMU: `cocoon create`/`start`
 * leave a holder owning the sandbox, and `cocoon api` routes to it through the holder's control
 * socket: the owner is reported, pause/resume freeze and thaw the container, exec streams its
 * output and exit code, `/metrics` has the guest figures the holder reads, and DELETE removes the
 * container, the holder and the VM. Nothing is left.
 *
 * Skipped unless the host can boot guests (as the other OCI e2e tests).
 */
import assert from "node:assert/strict";
import { apiFetch, readToken, tokenFileOf } from "../utils/api_client.ts";
import { parsePrometheusText } from "../../runtime/api/http/_prom_parser.ts";
import { CLEAN, eventually, hostCanBoot, leftovers, withOciWorld } from "./oci_world.ts";

const canRun = await hostCanBoot();
const dec = new TextDecoder();

async function listening(
  p: Deno.ChildProcess,
): Promise<{ base: string; lines: string[]; call: (url: string, init?: RequestInit) => Promise<Response> }> {
  const lines: string[] = [];
  const ready = Promise.withResolvers<string>();
  let tokenFile: string | null = null;
  void (async () => {
    let buf = "";
    for await (const chunk of p.stderr) {
      buf += dec.decode(chunk, { stream: true });
      const parts = buf.split("\n");
      buf = parts.pop() ?? "";
      for (const l of parts) {
        lines.push(l);
        const m = /^cocoon api: listening on .*tcp:\/\/(127\.0\.0\.1:\d+)/.exec(l);
        tokenFile ??= tokenFileOf(l);
        if (m) ready.resolve(`http://${m[1]}`);
      }
    }
    ready.reject(new Error(`cocoon api exited: ${lines.slice(-5).join("\n")}`));
  })();
  const t = setTimeout(() => ready.reject(new Error("cocoon api did not listen in 60 s")), 60_000);
  try {
    const base = await ready.promise;
    if (tokenFile === null) throw new Error(`cocoon api named no token file: ${lines.join("\n")}`);
    return { base, lines, call: apiFetch(await readToken(tokenFile)) };
  } finally {
    clearTimeout(t);
  }
}

/** The status of one raw HTTP/1.1 request to `base` (a Host header fetch would not let us set). */
async function rawStatus(base: string, head: string): Promise<number> {
  const u = new URL(base);
  const conn = await Deno.connect({ hostname: u.hostname, port: Number(u.port) });
  await conn.write(new TextEncoder().encode(`${head}\r\nConnection: close\r\n\r\n`));
  const raw = await new Response(conn.readable).text();
  return Number(raw.split(" ")[1]);
}

/**
 * TCP without the token, with a wrong token, a `text/plain` POST (what a web page may send without
 * a CORS preflight), a DNS-rebound Host and a foreign Origin: all refused before any action.
 */
async function refusesStrangers(base: string, call: (url: string, init?: RequestInit) => Promise<Response>) {
  const status = async (r: Promise<Response>) => {
    const x = await r;
    await x.body?.cancel();
    return x.status;
  };
  assert.equal(await status(fetch(`${base}/v1/sandboxes`)), 401, "no token");
  assert.equal(
    await status(fetch(`${base}/v1/sandboxes`, { headers: { authorization: "Bearer 00" } })),
    401,
    "wrong token",
  );
  assert.equal(
    await status(call(`${base}/v1/sandboxes/x/containers/x/exec`, {
      method: "POST",
      headers: { "content-type": "text/plain" },
      body: '{"args":["id"]}',
    })),
    415,
    "a text/plain POST",
  );
  assert.equal(
    await status(
      call(`${base}/v1/sandboxes/x/pause`, { method: "POST", headers: { origin: "http://evil.example" } }),
    ),
    403,
    "a foreign Origin",
  );
  const port = new URL(base).port;
  assert.equal(
    await rawStatus(base, `GET /v1/sandboxes HTTP/1.1\r\nHost: evil.example:${port}`),
    421,
    "a rebound Host (checked before the token)",
  );
  assert.equal(await status(call(`${base}/v1/sandboxes`)), 200, "the token opens it");
}

async function body(r: Response): Promise<Record<string, unknown>> {
  const x: unknown = await r.json();
  assert.ok(typeof x === "object" && x !== null && !Array.isArray(x), JSON.stringify(x));
  return Object.fromEntries(Object.entries(x));
}

function kindOf(x: unknown): unknown {
  return typeof x === "object" && x !== null && "kind" in x ? x.kind : undefined;
}

Deno.test({
  name: "HTTP API routes an OCI container's sandbox through its holder: pause/resume, exec, metrics, delete",
  ignore: !canRun,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withOciWorld(async (w) => {
      const id = `hoci-${crypto.randomUUID().slice(0, 6)}`;
      const b = await w.bundle("b1", ["sh", "-c", 'trap "exit 143" TERM; while true; do sleep 1; done']);
      const c = w.spawn(["create", "--bundle", b, id]);
      assert.equal((await c.status).code, 0);
      const start = await w.cocoon(["start", id]);
      assert.equal(start.code, 0, start.stderr);
      const api = w.spawn(["api", "--listen", `unix://${w.dir}/api.sock`, "--listen", "tcp://127.0.0.1:0"]);
      try {
        const { base, call } = await listening(api);
        await refusesStrangers(base, call);
        const v = await body(await call(`${base}/v1/sandboxes/${id}`));
        assert.equal(kindOf(v["owner"]), "holder");
        assert.equal(kindOf(v["state"]), "ready");

        const p = await call(`${base}/v1/sandboxes/${id}/pause`, { method: "POST" });
        assert.equal(p.status, 200);
        await p.body?.cancel();
        assert.equal(
          kindOf((await body(await call(`${base}/v1/sandboxes/${id}/containers/${id}`)))["state"]),
          "paused",
        );
        const r = await call(`${base}/v1/sandboxes/${id}/resume`, { method: "POST" });
        assert.equal(r.status, 200);
        await r.body?.cancel();
        assert.equal(
          kindOf((await body(await call(`${base}/v1/sandboxes/${id}/containers/${id}`)))["state"]),
          "running",
        );

        const ex = await call(`${base}/v1/sandboxes/${id}/containers/${id}/exec`, {
          method: "POST",
          body: JSON.stringify({ args: ["sh", "-c", "sleep 1; echo via-holder; exit 2"] }),
        });
        assert.equal(ex.status, 200);
        const events = (await ex.text()).trim().split("\n").map((l) => JSON.parse(l));
        assert.equal(events.filter((e) => e.kind === "stdout").map((e) => e.data).join(""), "via-holder\n");
        assert.deepEqual(events.at(-1), { kind: "exit", status: 2 });
        const other = await call(`${base}/v1/sandboxes/${id}/containers/nope/exec`, {
          method: "POST",
          body: '{"args":["true"]}',
        });
        assert.equal(other.status, 404);
        await other.body?.cancel();

        const f = parsePrometheusText(await (await call(`${base}/metrics`)).text());
        const up = f.get("cocoon_sandbox_guest_stats_up")?.samples.find((s) => s.labels["sandbox"] === id);
        assert.equal(up?.value, 1);
        const pids = f.get("cocoon_container_pids")?.samples.find((s) => s.labels["container"] === id);
        assert.ok((pids?.value ?? 0) >= 1);
        assert.equal(
          f.get("cocoon_sandbox_info")?.samples.find((s) => s.labels["sandbox"] === id)?.labels["owner"],
          "holder",
        );

        const d = await call(`${base}/v1/sandboxes/${id}?force=true`, { method: "DELETE" });
        assert.equal(d.status, 204, await d.text());
        assert.ok(
          await eventually(
            async () => JSON.stringify(await leftovers(w, id)) === JSON.stringify(CLEAN),
            30_000,
          ),
        );
        const gone = await call(`${base}/v1/sandboxes/${id}`);
        assert.equal(gone.status, 404);
        await gone.body?.cancel();
      } finally {
        api.kill("SIGTERM");
        assert.equal((await api.status).code, 0);
        await c.stdout.cancel().catch(() => {});
        await c.stderr.cancel().catch(() => {});
      }
      assert.deepEqual(await leftovers(w, id), CLEAN);
    });
  },
});
