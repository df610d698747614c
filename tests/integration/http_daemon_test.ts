/**
 * The management API of `cocoon daemon` against a real containerd 1.6 and the cocoon shim (the
 * daemon embedded on the in-memory sandbox, as in shim_containerd_test.ts): a pod made by
 * `ctr run -d` is listed on the daemon's `api.sock` as held in-process, and the requests a standalone
 * `cocoon api` passes through to it (relay_http.ts) act on it: pause/resume
 * are seen by containerd, exec streams output, delete is refused naming containerd; the socket goes
 * with the daemon.
 */
import assert from "node:assert/strict";
import { withShimWorld } from "./shim_harness.ts";

const canRun = await (async () => {
  if (Deno.uid() !== 0) return false;
  for (const b of ["containerd", "ctr"]) {
    const r = await new Deno.Command("sh", {
      args: ["-c", `command -v ${b}`],
      stdout: "null",
      stderr: "null",
    })
      .output().catch(() => null);
    if (r === null || !r.success) return false;
  }
  return true;
})();

/** One request to the API on `socket` (JSON, as relay_http.ts sends them); status and body text. */
async function api(socket: string, method: string, path: string, body?: unknown) {
  const client = Deno.createHttpClient({ proxy: { transport: "unix", path: socket } });
  try {
    const r = await fetch(`http://cocoon${path}`, {
      client,
      method,
      ...(method !== "GET" ? { headers: { "content-type": "application/json" } } : {}),
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    return { status: r.status, text: await r.text() };
  } finally {
    client.close();
  }
}

async function apiGet(socket: string, path: string): Promise<unknown> {
  const r = await api(socket, "GET", path);
  assert.equal(r.status, 200, path);
  return JSON.parse(r.text);
}

Deno.test({
  name:
    "cocoon daemon's API lists a ctr pod and takes pause, resume and exec passed through to it; delete is refused",
  ignore: !canRun,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    let socket = "";
    await withShimWorld({ embedded: true }, async (w) => {
      socket = `${w.daemonDir}/api.sock`;
      const d = await w.run(["-d"], "c-api", ["sleep", "600"]);
      assert.equal(d.code, 0, d.stderr);

      const list = await apiGet(socket, "/v1/sandboxes");
      assert.ok(
        typeof list === "object" && list !== null && "sandboxes" in list && Array.isArray(list.sandboxes),
      );
      assert.equal(list.sandboxes.length, 1);
      const mine = list.sandboxes[0];
      const id: string = mine.id;
      assert.equal(mine?.owner?.kind, "in-process");
      assert.deepEqual(mine?.containers.map((c: { id: string }) => c.id), ["c-api"]);

      const path = `/v1/sandboxes/${encodeURIComponent(id)}`;
      assert.equal((await api(socket, "POST", `${path}/pause`)).status, 200);
      assert.match((await w.ctrd.ctr(["task", "ls"])).stdout, /c-api\s+\d+\s+PAUSED/);
      assert.equal((await api(socket, "POST", `${path}/resume`)).status, 200);
      assert.match((await w.ctrd.ctr(["task", "ls"])).stdout, /c-api\s+\d+\s+RUNNING/);

      const exec = await api(socket, "POST", `${path}/containers/c-api/exec`, { args: ["echo", "via-api"] });
      assert.equal(exec.status, 200);
      const events: { kind: string; data?: string; status?: number }[] = exec.text.trim().split("\n").map((
        l,
      ) => JSON.parse(l));
      assert.equal(events[0]?.kind, "started");
      assert.equal(events.filter((e) => e.kind === "stdout").map((e) => e.data).join(""), "via-api\n");
      assert.deepEqual(events.at(-1), { kind: "exit", status: 0 });

      const refused = await api(socket, "DELETE", `${path}?force=true`);
      assert.equal(refused.status, 409);
      assert.match(refused.text, /FailedPrecondition/);
      assert.match(refused.text, /containerd owns its lifecycle/);
      assert.match((await w.ctrd.ctr(["task", "ls"])).stdout, /c-api\s+\d+\s+RUNNING/, "the pod survives");
      assert.equal((await w.ctrd.ctr(["task", "kill", "-s", "SIGKILL", "c-api"])).code, 0);
    });
    await assert.rejects(Deno.stat(socket), Deno.errors.NotFound, "api.sock goes with the daemon");
  },
});
