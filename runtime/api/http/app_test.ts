import assert from "node:assert/strict";
import { RuntimeError } from "../../errors.ts";
import { createLogger, nullSink } from "../../log/logger.ts";
import { parsePrometheusText } from "./_prom_parser.ts";
import { createApiApp } from "./app.ts";
import { OwnerConflictError } from "./http_errors.ts";
import { fakeView } from "./prometheus_test.ts";
import type { ApiBackend, ContainerView, ExecEvent, ExecRequest, SandboxView } from "./types.ts";

const silent = createLogger({ level: "error", sink: nullSink });

function container(id: string, sandboxId: string): ContainerView {
  return {
    id,
    sandboxId,
    state: { kind: "running", pid: 1, startedAt: "2026-01-01T00:00:04.000Z" },
    createdAt: "2026-01-01T00:00:04.000Z",
    rootfs: "/r",
    bundle: null,
    terminal: false,
    execs: {},
  };
}

/** An in-memory backend: "sb1" is ownerless, "held" belongs to the daemon. */
function fakeBackend(calls: string[]): ApiBackend {
  const views = new Map<string, SandboxView>([
    ["sb1", fakeView("sb1", { containers: [container("c1", "sb1")] })],
    [
      "held",
      fakeView("held", { owner: { kind: "process", pid: 9, role: "daemon", command: "cocoon daemon" } }),
    ],
  ]);
  const get = (id: string) => {
    const v = views.get(id);
    if (v === undefined) throw new RuntimeError("NotFound", `Cannot find sandbox "${id}": it does not exist`);
    return v;
  };
  const act = (op: string, id: string) => {
    const v = get(id);
    if (v.owner.kind === "process") {
      throw new OwnerConflictError(v.owner, `Cannot ${op} sandbox "${id}": held`);
    }
    calls.push(`${op} ${id}`);
    return v;
  };
  return {
    list: () => Promise.resolve([...views.values()]),
    get: (id) => Promise.resolve(get(id)),
    pause: (id) => {
      const v = act("pause", id);
      if (v.state.kind !== "ready") throw new RuntimeError("FailedPrecondition", "not ready");
      views.set(id, { ...v, state: { kind: "paused", startedAt: "x", pausedAt: "y" } });
      return Promise.resolve();
    },
    resume: (id) => {
      const v = act("resume", id);
      views.set(id, { ...v, state: { kind: "ready", startedAt: "x" } });
      return Promise.resolve();
    },
    delete: (id, o) => {
      act(`delete force=${o.force}`, id);
      views.delete(id);
      return Promise.resolve();
    },
    containers: (id) => Promise.resolve([...get(id).containers]),
    container: (id, cid) => {
      const c = get(id).containers.find((x) => x.id === cid);
      if (c === undefined) return Promise.reject(new RuntimeError("NotFound", "no container"));
      return Promise.resolve(c);
    },
    deleteContainer: (id, cid, o) => {
      act(`delete-container ${cid} force=${o.force}`, id);
      return Promise.resolve();
    },
    exec: (id, cid, req: ExecRequest) => {
      act(`exec ${cid} ${req.args.join(" ")} ${JSON.stringify(req.env ?? {})}`, id);
      return Promise.resolve((async function* (): AsyncGenerator<ExecEvent> {
        yield { kind: "started", execId: "e1" };
        yield { kind: "stdout", data: "hello\n" };
        yield { kind: "stderr", data: "oops\n" };
        yield { kind: "exit", status: 3 };
      })());
    },
    guestStats: (id) =>
      Promise.resolve(
        id === "sb1"
          ? [{ containerId: "c1", cpuSeconds: 1, memoryBytes: 2, memoryLimitBytes: 3, pids: 4 }]
          : null,
      ),
  };
}

function setup() {
  const calls: string[] = [];
  const app = createApiApp(fakeBackend(calls), { log: silent });
  return { calls, app };
}

Deno.test({
  name: "createApiApp() lists, inspects, pauses, resumes and deletes sandboxes",
  permissions: "none",
  async fn() {
    const { app, calls } = setup();
    const list = await app.request("/v1/sandboxes");
    assert.equal(list.status, 200);
    const body: unknown = await list.json();
    assert.ok(
      typeof body === "object" && body !== null && "sandboxes" in body && Array.isArray(body.sandboxes),
    );
    assert.deepEqual(body.sandboxes.map((s: { id: string }) => s.id), ["sb1", "held"]);
    assert.equal((await (await app.request("/v1/sandboxes/sb1")).json()).vcpus, 1);
    const paused = await app.request("/v1/sandboxes/sb1/pause", { method: "POST" });
    assert.equal(paused.status, 200);
    assert.equal((await paused.json()).state.kind, "paused");
    assert.equal(
      (await (await app.request("/v1/sandboxes/sb1/resume", { method: "POST" })).json()).state.kind,
      "ready",
    );
    const del = await app.request("/v1/sandboxes/sb1?force=true", { method: "DELETE" });
    assert.equal(del.status, 204);
    assert.deepEqual(calls, ["pause sb1", "resume sb1", "delete force=true sb1"]);
    assert.equal((await app.request("/v1/sandboxes/sb1")).status, 404);
  },
});

Deno.test({
  name: "createApiApp() maps error codes to statuses once, naming the owner on 409",
  permissions: "none",
  async fn() {
    const { app } = setup();
    const missing = await app.request("/v1/sandboxes/nope");
    assert.equal(missing.status, 404);
    assert.deepEqual(await missing.json(), {
      error: { code: "NotFound", message: 'Cannot find sandbox "nope": it does not exist' },
    });
    const held = await app.request("/v1/sandboxes/held/pause", { method: "POST" });
    assert.equal(held.status, 409);
    const e = (await held.json()).error;
    assert.equal(e.code, "FailedPrecondition");
    assert.deepEqual(e.owner, { kind: "process", pid: 9, role: "daemon", command: "cocoon daemon" });
    assert.equal((await app.request("/v1/sandboxes/sb1?force=maybe", { method: "DELETE" })).status, 400);
    assert.equal((await app.request("/v1/nothing")).status, 404);
    // An error that is not a RuntimeError says nothing of itself.
    const broken = createApiApp({ ...fakeBackend([]), list: () => Promise.reject(new Error("secret")) }, {
      log: silent,
    });
    const r = await broken.request("/v1/sandboxes");
    assert.equal(r.status, 500);
    assert.deepEqual(await r.json(), { error: { code: "Internal", message: "Internal error" } });
  },
});

Deno.test({
  name: "createApiApp() serves containers and streams exec output as NDJSON ending with the exit",
  permissions: "none",
  async fn() {
    const { app, calls } = setup();
    assert.deepEqual(
      (await (await app.request("/v1/sandboxes/sb1/containers")).json()).containers.map((
        c: { id: string },
      ) => c.id),
      ["c1"],
    );
    assert.equal((await (await app.request("/v1/sandboxes/sb1/containers/c1")).json()).state.kind, "running");
    assert.equal((await app.request("/v1/sandboxes/sb1/containers/c9")).status, 404);
    assert.equal((await app.request("/v1/sandboxes/sb1/containers/c1", { method: "DELETE" })).status, 204);
    const r = await app.request("/v1/sandboxes/sb1/containers/c1/exec", {
      method: "POST",
      body: JSON.stringify({ args: ["sh", "-c", "echo hello"], env: { A: "1" } }),
    });
    assert.equal(r.status, 200);
    assert.match(r.headers.get("content-type") ?? "", /ndjson/);
    const lines = (await r.text()).trim().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(lines, [
      { kind: "started", execId: "e1" },
      { kind: "stdout", data: "hello\n" },
      { kind: "stderr", data: "oops\n" },
      { kind: "exit", status: 3 },
    ]);
    assert.deepEqual(calls, [
      "delete-container c1 force=false sb1",
      'exec c1 sh -c echo hello {"A":"1"} sb1',
    ]);
    for (
      const body of [
        "",
        "[]",
        '{"args":[]}',
        '{"args":[1]}',
        '{"args":["x"],"env":{"A":1}}',
        '{"args":["x"],"cwd":"rel"}',
      ]
    ) {
      const bad = await app.request("/v1/sandboxes/sb1/containers/c1/exec", { method: "POST", body });
      assert.equal(bad.status, 400, body);
    }
    const held = await app.request("/v1/sandboxes/held/containers/c1/exec", {
      method: "POST",
      body: '{"args":["true"]}',
    });
    assert.equal(held.status, 409);
  },
});

Deno.test({
  name: "createApiApp() serves /metrics that a strict parser accepts, and the dashboard page",
  permissions: "none",
  async fn() {
    const { app } = setup();
    const r = await app.request("/metrics");
    assert.equal(r.status, 200);
    assert.match(r.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
    const f = parsePrometheusText(await r.text());
    assert.equal(f.get("cocoon_container_pids")?.samples[0]?.value, 4);
    assert.deepEqual(
      f.get("cocoon_sandbox_guest_stats_up")?.samples.map((s) => [s.labels["sandbox"], s.value]),
      [
        ["sb1", 1],
        ["held", 0],
      ],
    );
    const m = await (await app.request("/v1/sandboxes/sb1/metrics")).json();
    assert.equal(m.guest[0].containerId, "c1");
    const page = await app.request("/");
    assert.match(page.headers.get("content-type") ?? "", /text\/html/);
    const html = await page.text();
    assert.match(html, /<table>/);
    assert.match(html, /svg id="mem"/);
    assert.match(html, /fetch\("\/v1\/sandboxes"/);
  },
});
