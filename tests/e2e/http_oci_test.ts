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
import { parsePrometheusText } from "../../runtime/api/http/_prom_parser.ts";
import { CLEAN, eventually, hostCanBoot, leftovers, withOciWorld } from "./oci_world.ts";

const canRun = await hostCanBoot();
const dec = new TextDecoder();

async function listening(p: Deno.ChildProcess): Promise<{ base: string; lines: string[] }> {
  const lines: string[] = [];
  const ready = Promise.withResolvers<string>();
  void (async () => {
    let buf = "";
    for await (const chunk of p.stderr) {
      buf += dec.decode(chunk, { stream: true });
      const parts = buf.split("\n");
      buf = parts.pop() ?? "";
      for (const l of parts) {
        lines.push(l);
        const m = /^cocoon api: listening on .*tcp:\/\/(127\.0\.0\.1:\d+)/.exec(l);
        if (m) ready.resolve(`http://${m[1]}`);
      }
    }
    ready.reject(new Error(`cocoon api exited: ${lines.slice(-5).join("\n")}`));
  })();
  const t = setTimeout(() => ready.reject(new Error("cocoon api did not listen in 60 s")), 60_000);
  try {
    return { base: await ready.promise, lines };
  } finally {
    clearTimeout(t);
  }
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
        const { base } = await listening(api);
        const v = await body(await fetch(`${base}/v1/sandboxes/${id}`));
        assert.equal(kindOf(v["owner"]), "holder");
        assert.equal(kindOf(v["state"]), "ready");

        const p = await fetch(`${base}/v1/sandboxes/${id}/pause`, { method: "POST" });
        assert.equal(p.status, 200);
        await p.body?.cancel();
        assert.equal(
          kindOf((await body(await fetch(`${base}/v1/sandboxes/${id}/containers/${id}`)))["state"]),
          "paused",
        );
        const r = await fetch(`${base}/v1/sandboxes/${id}/resume`, { method: "POST" });
        assert.equal(r.status, 200);
        await r.body?.cancel();
        assert.equal(
          kindOf((await body(await fetch(`${base}/v1/sandboxes/${id}/containers/${id}`)))["state"]),
          "running",
        );

        const ex = await fetch(`${base}/v1/sandboxes/${id}/containers/${id}/exec`, {
          method: "POST",
          body: JSON.stringify({ args: ["sh", "-c", "sleep 1; echo via-holder; exit 2"] }),
        });
        assert.equal(ex.status, 200);
        const events = (await ex.text()).trim().split("\n").map((l) => JSON.parse(l));
        assert.equal(events.filter((e) => e.kind === "stdout").map((e) => e.data).join(""), "via-holder\n");
        assert.deepEqual(events.at(-1), { kind: "exit", status: 2 });
        const other = await fetch(`${base}/v1/sandboxes/${id}/containers/nope/exec`, {
          method: "POST",
          body: '{"args":["true"]}',
        });
        assert.equal(other.status, 404);
        await other.body?.cancel();

        const f = parsePrometheusText(await (await fetch(`${base}/metrics`)).text());
        const up = f.get("cocoon_sandbox_guest_stats_up")?.samples.find((s) => s.labels["sandbox"] === id);
        assert.equal(up?.value, 1);
        const pids = f.get("cocoon_container_pids")?.samples.find((s) => s.labels["container"] === id);
        assert.ok((pids?.value ?? 0) >= 1);
        assert.equal(
          f.get("cocoon_sandbox_info")?.samples.find((s) => s.labels["sandbox"] === id)?.labels["owner"],
          "holder",
        );

        const d = await fetch(`${base}/v1/sandboxes/${id}?force=true`, { method: "DELETE" });
        assert.equal(d.status, 204, await d.text());
        assert.ok(
          await eventually(
            async () => JSON.stringify(await leftovers(w, id)) === JSON.stringify(CLEAN),
            30_000,
          ),
        );
        const gone = await fetch(`${base}/v1/sandboxes/${id}`);
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
