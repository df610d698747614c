/**
 * serveFrontDoorApi() and the standalone API's relay, on the in-memory sandbox: the sandbox's
 * record names the daemon that holds it and that daemon's API socket; a second API app (as
 * `cocoon api` runs it, in another process) passes pause, resume, exec and stats there; delete is
 * refused with the front door's message; closing removes the socket.
 */
import assert from "node:assert/strict";
import {
  fakeConnector,
  FakeHost,
  FakeHypervisor,
  MemoryStore,
  RecordingShare,
} from "../../../tests/integration/sandbox_fakes.ts";
import { resolveConfig } from "../../config/resolve.ts";
import { createLogger, nullSink } from "../../log/logger.ts";
import { minimalSpec, parseOciSpec } from "../../oci/spec.ts";
import { openSandboxRuntime } from "../../sandbox/runtime.ts";
import { Sandbox as CoreSandbox } from "../../sandbox/sandbox.ts";
import { parseGuestStats } from "./relay_http.ts";
import { createApiApp } from "./app.ts";
import { serveFrontDoorApi } from "./front_door.ts";
import { localBackend } from "./local_backend.ts";

const log = createLogger({ level: "error", sink: nullSink });

Deno.test({
  name: "parseGuestStats() refuses malformed input",
  permissions: "none",
  fn() {
    assert.equal(parseGuestStats("nope"), null);
    assert.deepEqual(parseGuestStats('{"guest":[{"containerId":"c","cpuSeconds":1}]}'), [
      { containerId: "c", cpuSeconds: 1, memoryBytes: null, memoryLimitBytes: null, pids: null },
    ]);
    assert.equal(parseGuestStats('{"guest":null}'), null);
  },
});

Deno.test({
  name: "the standalone API passes actions on a daemon's sandbox to the daemon's API, and its refusal back",
  permissions: "inherit",
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "cocoon-fd-" });
    try {
      const host = new FakeHost();
      const config = resolveConfig({
        hypervisor: { qemu: { kernel: "/k/vmlinuz", initrd: "/k/initrd.img", default_vcpus: 1 } },
        runtime: { state_dir: `${dir}/run`, internetworking_model: "none" },
        agent: { dial_timeout: 5 },
      }, { file: "test", dropIns: [] });
      const runtime = await openSandboxRuntime(config, {
        log,
        plugins: {
          hypervisor: new FakeHypervisor(host),
          store: new MemoryStore(),
          storage: { "9p": new RecordingShare() },
        },
        connectAgent: fakeConnector(host),
        owner: { kind: "daemon", api: `${dir}/sbx/api.sock` },
      });
      await Deno.mkdir(`${dir}/rootfs`);
      const pod = await CoreSandbox.create(runtime, { id: "pod1" });
      await pod.act({
        kind: "create-container",
        opts: {
          id: "c1",
          spec: parseOciSpec(minimalSpec(["sleep", "600"]), "test"),
          rootfs: `${dir}/rootfs`,
        },
      });
      await pod.act({ kind: "start-container", containerId: "c1" });
      const fd = await serveFrontDoorApi({
        dir: `${dir}/sbx`,
        runtime,
        log,
        inProcess: (id) => (id === "pod1" ? pod : undefined),
        refuseDelete: (id) => `Cannot delete sandbox "${id}": its client owns it`,
      });
      try {
        const api = localBackend({
          runtime,
          log,
          // as if `cocoon api` ran in a process of its own
          selfPid: 1,
          attach: () => Promise.reject(new Error("a front door's sandbox must not be attached")),
        });
        const owner = (await api.get("pod1")).owner;
        assert.ok(owner.kind === "process" && owner.role === "daemon" && owner.api === fd.socket);
        assert.equal(await api.ownerApi?.("pod1"), fd.socket);
        const app = createApiApp(api, { log });
        const call = (method: string, path: string, body?: string) =>
          app.fetch(
            new Request(`http://cocoon/v1/sandboxes/pod1${path}`, { method, ...(body ? { body } : {}) }),
          );
        const paused = await call("POST", "/pause");
        assert.equal(paused.status, 200);
        assert.equal((await paused.json()).state.kind, "paused");
        assert.equal(pod.status().kind, "paused");
        assert.equal((await call("POST", "/resume")).status, 200);
        assert.equal(pod.status().kind, "ready");
        const exec = await call("POST", "/containers/c1/exec", JSON.stringify({ args: ["echo", "fwd"] }));
        assert.equal(exec.headers.get("content-type"), "application/x-ndjson; charset=utf-8");
        const events = (await exec.text()).trim().split("\n").map((l) => JSON.parse(l));
        assert.deepEqual(events.slice(1), [{ kind: "stdout", data: "fwd\n" }, { kind: "exit", status: 0 }]);
        const metrics = await (await call("GET", "/metrics")).json();
        assert.deepEqual(metrics.guest.map((s: { containerId: string }) => s.containerId), ["c1"]);
        assert.deepEqual((await api.guestStats("pod1"))?.map((s) => s.containerId), ["c1"]);
        const refused = await call("DELETE", "?force=true");
        assert.equal(refused.status, 409);
        assert.match((await refused.json()).error.message, /its client owns it/);
        assert.equal(pod.status().kind, "ready");
        // without the HTTP layer, the backend refuses what the daemon keeps
        await assert.rejects(
          api.pause("pod1"),
          (e: unknown) => e instanceof Error && /cocoon daemon/.test(e.message),
        );
      } finally {
        await fd.close();
        await pod.act({ kind: "delete", opts: { force: true } });
      }
      await assert.rejects(Deno.stat(fd.socket), Deno.errors.NotFound);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
