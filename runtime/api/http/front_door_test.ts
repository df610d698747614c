/**
 * serveFrontDoorApi() and the standalone backend's forwarding, on the in-memory sandbox: the
 * sandbox's record names the daemon that holds it and that daemon's API socket; a second
 * localBackend (as `cocoon api` runs it, in another process) goes there for pause, resume, exec and
 * stats; delete is refused with the front door's message; closing removes the socket.
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
import { parseExecEvent, parseGuestStats } from "./forward.ts";
import { serveFrontDoorApi } from "./front_door.ts";
import { localBackend } from "./local_backend.ts";
import type { ExecEvent } from "./types.ts";

const log = createLogger({ level: "error", sink: nullSink });

Deno.test({
  name: "parseExecEvent() and parseGuestStats() refuse malformed input",
  permissions: "none",
  fn() {
    assert.deepEqual(parseExecEvent('{"kind":"exit","status":3}'), { kind: "exit", status: 3 });
    assert.equal(parseExecEvent('{"kind":"exit"}').kind, "error");
    assert.equal(parseExecEvent("nope").kind, "error");
    assert.deepEqual(parseGuestStats('{"guest":[{"containerId":"c","cpuSeconds":1}]}'), [
      { containerId: "c", cpuSeconds: 1, memoryBytes: null, memoryLimitBytes: null, pids: null },
    ]);
    assert.equal(parseGuestStats('{"guest":null}'), null);
  },
});

Deno.test({
  name: "localBackend() forwards actions on a front door's sandbox to its API and relays its refusal",
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
        await api.pause("pod1");
        assert.equal(pod.status().kind, "paused");
        await api.resume("pod1");
        assert.equal(pod.status().kind, "ready");
        const events: ExecEvent[] = [];
        for await (const e of await api.exec("pod1", "c1", { args: ["echo", "fwd"] })) events.push(e);
        assert.deepEqual(events.slice(1), [{ kind: "stdout", data: "fwd\n" }, { kind: "exit", status: 0 }]);
        assert.deepEqual((await api.guestStats("pod1"))?.map((s) => s.containerId), ["c1"]);
        await assert.rejects(
          api.delete("pod1", { force: true }),
          (e: unknown) =>
            e instanceof Error && "code" in e && e.code === "FailedPrecondition" &&
            /its client owns it/.test(e.message),
        );
        assert.equal(pod.status().kind, "ready");
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
