/**
 * The iSulad flavour of the sandboxer (`startSandboxer({ flavour: "isulad" })`) driven by an
 * independent Python grpcio peer with stubs from sandboxer_isulad.proto, on the in-memory sandbox
 * core (fake VM and agent): Platform, Create (PodSandboxConfig JSON options), Start (task_address),
 * Status; Prepare writes a bundle that the Task API at task_address runs a container from; exec
 * Prepare; UpdateResources; Purge; Stop ends a Wait; Shutdown. Skipped when python3-grpcio cannot
 * be had.
 */
import assert from "node:assert/strict";
import { createLogger, nullSink } from "../../runtime/log/logger.ts";
import { resolveConfig } from "../../runtime/config/resolve.ts";
import { minimalSpec } from "../../runtime/oci/spec.ts";
import { Task } from "../../runtime/protocol/gen/containerd/task/v2/shim_pb.ts";
import { TtrpcClient, typedClient } from "../../runtime/protocol/ttrpc/mod.ts";
import { openSandboxRuntime } from "../../runtime/sandbox/mod.ts";
import { SANDBOX_NOTREADY, SANDBOX_READY } from "../../runtime/sandboxer/controller.ts";
import { startSandboxer } from "../../runtime/sandboxer/server.ts";
import { sandboxIdOf } from "../../runtime/shim/address.ts";
import { ensurePythonGrpc, PYTHON } from "../e2e/sandboxer_python_client.ts";
import { fakeConnector, FakeHost, FakeHypervisor, MemoryStore, RecordingShare } from "./sandbox_fakes.ts";
import { generateIsuladStubs, ISULAD_CLIENT_PY } from "./sandboxer_isulad_peer.ts";

const python = await ensurePythonGrpc();

function obj(v: unknown): Record<string, unknown> {
  assert.ok(
    typeof v === "object" && v !== null && !Array.isArray(v),
    `expected an object, got ${JSON.stringify(v)}`,
  );
  return Object.fromEntries(Object.entries(v));
}

async function peer(
  dir: string,
  sock: string,
  id: string,
  phase: string,
  arg = "",
): Promise<Record<string, unknown>> {
  const r = await new Deno.Command(PYTHON, {
    args: [`${dir}/client.py`, `${dir}/stubs`, sock, id, phase, ...(arg !== "" ? [arg] : [])],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(r.stdout);
  if (!r.success) throw new Error(`python ${phase} failed: ${new TextDecoder().decode(r.stderr)}`);
  return obj(JSON.parse(text));
}

Deno.test({
  name: "iSulad-flavour sandboxer runs a sandbox and a Prepared container for a Python grpcio peer",
  ignore: !python.ok,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "cocoon-isulad-" });
    const host = new FakeHost();
    const cfg = resolveConfig({
      hypervisor: { qemu: { kernel: "/k/vmlinuz", initrd: "/k/initrd.img", image: "/k/rootfs.erofs" } },
      runtime: { state_dir: `${dir}/run`, internetworking_model: "none" },
      agent: { dial_timeout: 5 },
    }, { file: "test", dropIns: [] });
    const log = createLogger({ sink: nullSink });
    const runtime = await openSandboxRuntime(cfg, {
      log,
      plugins: {
        hypervisor: new FakeHypervisor(host),
        store: new MemoryStore(),
        storage: { "9p": new RecordingShare() },
      },
      connectAgent: fakeConnector(host),
    });
    const sock = `${dir}/sandboxer.sock`;
    const s = await startSandboxer({ listen: sock, taskDir: `${dir}/task`, runtime, log, flavour: "isulad" });
    let conn: TtrpcClient | undefined;
    try {
      await Deno.mkdir(`${dir}/stubs`);
      await generateIsuladStubs(`${dir}/stubs`);
      await Deno.writeTextFile(`${dir}/client.py`, ISULAD_CLIENT_PY);
      const id = "pod-isulad";

      const up = await peer(dir, sock, id, "up");
      assert.deepEqual(up["platform"], ["linux", Deno.build.arch === "x86_64" ? "amd64" : "arm64"]);
      assert.equal(up["created"], id);
      const vm = host.running.get(sandboxIdOf(id));
      assert.ok(vm !== undefined, "Start booted the VM");
      const start = obj(up["start"]);
      assert.deepEqual(start, { id, pid: vm.pid, created: start["created"], address: s.taskAddress });
      assert.ok(typeof start["created"] === "number" && start["created"] > 0);
      const st = obj(up["status"]);
      assert.equal(st["state"], SANDBOX_READY);
      assert.equal(st["pid"], vm.pid);
      assert.equal(st["address"], s.taskAddress);
      assert.match(
        String(obj(st["info"])["cocoon.record"]),
        /"io\.cocoon\.test":"isulad"/,
        "Create's options gave the pod's annotations",
      );

      const specFile = `${dir}/spec.json`;
      await Deno.writeTextFile(
        specFile,
        JSON.stringify(minimalSpec(["echo", "prepared"], { rootfs: "rootfs" })),
      );
      const prep = await peer(dir, sock, id, "prepare", specFile);
      const bundle = `${dir}/task/bundles/${id}/c1`;
      assert.equal(prep["bundle"], bundle);
      assert.equal(prep["execBundle"], bundle);
      assert.equal(prep["badId"], "INVALID_ARGUMENT");
      const written: unknown = JSON.parse(await Deno.readTextFile(`${bundle}/config.json`));
      assert.match(JSON.stringify(written), /"io\.kubernetes\.cri\.sandbox-id":"pod-isulad"/);

      conn = await TtrpcClient.connect(s.taskAddress.slice("ttrpc+unix://".length));
      const task = typedClient(conn, Task);
      const out = `${dir}/c1.out`;
      await task.create({ id: "c1", bundle, stdout: `file://${out}` });
      assert.ok(vm.agent.containers.has("c1"), "the Prepared container runs in the sandbox's VM");
      await task.start({ id: "c1" });
      assert.equal((await task.wait({ id: "c1" })).exitStatus, 0);
      assert.equal(await Deno.readTextFile(out), "prepared\n");
      await task.delete({ id: "c1" });

      const down = await peer(dir, sock, id, "down");
      assert.equal(down["updated"], "c1/resources,c1/annotations.k");
      assert.equal(await Deno.stat(bundle).then(() => true, () => false), false, "Purge removed the bundle");
      const w = obj(down["wait"]);
      assert.equal(w["status"], 137, "the fake VM reports a kill");
      assert.ok(typeof w["exited"] === "number" && w["exited"] > 0);
      const stopped = obj(down["stopped"]);
      assert.equal(stopped["state"], SANDBOX_NOTREADY);
      assert.equal(stopped["pid"], 0);
      assert.equal(down["after"], "NOT_FOUND");
      assert.equal(host.running.size, 0);
    } finally {
      conn?.close();
      await s.close({ deleteSandboxes: true });
      await Deno.remove(dir, { recursive: true });
    }
  },
});
