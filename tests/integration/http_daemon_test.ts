/**
 * The management API of `cocoon daemon` against a real containerd 1.6 and the cocoon shim (the
 * daemon embedded on the in-memory sandbox, as in shim_containerd_test.ts): a pod made by
 * `ctr run -d` is listed on the daemon's `api.sock` as held in-process, and the actions a standalone `cocoon api` forwards (forward.ts) reach it: pause/resume
 * are seen by containerd, exec streams output, delete is refused naming containerd; the socket goes
 * with the daemon.
 */
import assert from "node:assert/strict";
import { forwarder } from "../../runtime/api/http/forward.ts";
import type { ExecEvent } from "../../runtime/api/http/types.ts";
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

async function apiGet(socket: string, path: string): Promise<unknown> {
  const client = Deno.createHttpClient({ proxy: { transport: "unix", path: socket } });
  try {
    const r = await fetch(`http://cocoon${path}`, { client });
    assert.equal(r.status, 200, path);
    return await r.json();
  } finally {
    client.close();
  }
}

Deno.test({
  name:
    "cocoon daemon's API lists a ctr pod and takes pause, resume and exec forwarded to it; delete is refused",
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

      const owner = {
        kind: "process",
        pid: Deno.pid,
        role: "daemon",
        command: "cocoon daemon",
        api: socket,
      } as const;
      const fw = forwarder(owner, socket);
      await fw.pause(id);
      assert.match((await w.ctrd.ctr(["task", "ls"])).stdout, /c-api\s+\d+\s+PAUSED/);
      await fw.resume(id);
      assert.match((await w.ctrd.ctr(["task", "ls"])).stdout, /c-api\s+\d+\s+RUNNING/);

      const events: ExecEvent[] = [];
      for await (const e of await fw.exec(id, "c-api", { args: ["echo", "via-api"] })) events.push(e);
      assert.equal(events[0]?.kind, "started");
      assert.equal(
        events.filter((e) => e.kind === "stdout").map((e) => e.kind === "stdout" ? e.data : "").join(""),
        "via-api\n",
      );
      assert.deepEqual(events.at(-1), { kind: "exit", status: 0 });

      await assert.rejects(fw.delete(id, true), (e: unknown) => {
        assert.ok(e instanceof Error && "code" in e);
        assert.equal(e.code, "FailedPrecondition");
        assert.match(e.message, /containerd owns its lifecycle/);
        return true;
      });
      assert.match((await w.ctrd.ctr(["task", "ls"])).stdout, /c-api\s+\d+\s+RUNNING/, "the pod survives");
      assert.equal((await w.ctrd.ctr(["task", "kill", "-s", "SIGKILL", "c-api"])).code, 0);
    });
    await assert.rejects(Deno.stat(socket), Deno.errors.NotFound, "api.sock goes with the daemon");
  },
});
