/**
 * The sandboxer on a real VM (QEMU, TCG here), driven by an independent gRPC peer: Python with
 * Debian's python3-grpcio and stubs generated from our sandbox.proto. Python creates, starts,
 * inspects (Status, Metrics), stops, waits for and shuts down the sandbox; in between, a container
 * runs through the Task API address that Start returned (ttRPC), and its output and exit code are
 * read. Nothing may leak (QEMU, sockets, mounts).
 *
 * Skipped unless RUNTIME_E2E=1 (or COCOON_E2E=1) and the host can boot guests; skipped with a
 * message when python3-grpcio cannot be installed.
 */
import assert from "node:assert/strict";
import { makeBusyboxRootfs } from "../../agent/testing/rootfs.ts";
import { createLogger, nullSink } from "../../runtime/log/logger.ts";
import { minimalSpec } from "../../runtime/oci/spec.ts";
import { Task } from "../../runtime/protocol/gen/containerd/task/v2/shim_pb.ts";
import { TtrpcClient, typedClient } from "../../runtime/protocol/ttrpc/mod.ts";
import { startSandboxer } from "../../runtime/sandboxer/server.ts";
import {
  guestImageWith9p,
  hostCanBoot,
  mountsUnder,
  qemuPids,
  runtimeFor,
  scrub,
  socketsUnder,
} from "./sandbox_util.ts";
import { CLIENT_PY, ensurePythonGrpc, generateStubs, PYTHON } from "./sandboxer_python_client.ts";

const enabled = (Deno.env.get("RUNTIME_E2E") === "1" || Deno.env.get("COCOON_E2E") === "1") &&
  await hostCanBoot();

async function python(
  dir: string,
  sock: string,
  id: string,
  phase: "up" | "down",
): Promise<Record<string, unknown>> {
  const r = await new Deno.Command(PYTHON, {
    args: [`${dir}/client.py`, `${dir}/stubs`, sock, id, phase],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const err = new TextDecoder().decode(r.stderr);
  assert.ok(r.success, `python client (${phase}) failed: ${err}`);
  const v: unknown = JSON.parse(new TextDecoder().decode(r.stdout));
  assert.ok(typeof v === "object" && v !== null && !Array.isArray(v));
  return { ...v };
}

Deno.test({
  name: "sandboxer on a real VM: python3-grpcio drives the lifecycle, a container runs via Start's Task API",
  ignore: !enabled,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const py = await ensurePythonGrpc();
    if (!py.ok) {
      // deno-lint-ignore no-console -- a skip must say why
      console.warn(`SKIPPED: no independent gRPC client: ${py.why}`);
      return;
    }
    const image = await guestImageWith9p();
    const dir = await Deno.makeTempDir({ prefix: "cocoon-sbx-e2e-" });
    const id = `sbx-${crypto.randomUUID().slice(0, 8)}`;
    const sock = `${dir}/sandboxer.sock`;
    const s = await startSandboxer({
      listen: sock,
      taskDir: `${dir}/task`,
      runtime: await runtimeFor(dir, image),
      log: createLogger({ sink: nullSink }),
    });
    try {
      await Deno.mkdir(`${dir}/stubs`);
      await generateStubs(`${dir}/stubs`);
      await Deno.writeTextFile(`${dir}/client.py`, CLIENT_PY);
      const rootfs = await makeBusyboxRootfs(dir);

      const t0 = performance.now();
      const up = await python(dir, sock, id, "up");
      const upMs = performance.now() - t0;
      assert.deepEqual(up["platform"], ["linux", "amd64"]);
      const start = up["start"];
      assert.ok(typeof start === "object" && start !== null && "pid" in start && "address" in start);
      assert.deepEqual(await qemuPids(id), [start.pid], "Start's pid is the QEMU process");
      assert.equal(start.address, `ttrpc+unix://${dir}/task/task.sock`);
      const status = up["status"];
      assert.ok(typeof status === "object" && status !== null && "state" in status);
      assert.equal(status.state, "SANDBOX_READY");
      const metrics = up["metrics"];
      assert.ok(
        typeof metrics === "object" && metrics !== null && "data" in metrics && "unpacked" in metrics,
      );
      assert.equal(metrics.unpacked, true);
      assert.ok(typeof metrics.data === "object" && metrics.data !== null && "vmm_rss_bytes" in metrics.data);
      const rss = Number(metrics.data.vmm_rss_bytes);
      assert.ok(rss > 16 * 1024 * 1024, `QEMU's RSS is real: ${rss}`);

      await t.step("a container runs through the Task API address", async () => {
        const bundle = `${dir}/bundle`;
        await Deno.mkdir(bundle);
        await Deno.writeTextFile(
          `${bundle}/config.json`,
          JSON.stringify({
            ...minimalSpec(["sh", "-c", "echo hello from the sandboxer; exit 3"], { rootfs }),
            annotations: { "io.kubernetes.cri.sandbox-id": id },
          }),
        );
        const conn = await TtrpcClient.connect(`${dir}/task/task.sock`);
        try {
          const task = typedClient(conn, Task);
          await task.create({ id: `${id}-c1`, bundle, stdout: `file://${dir}/c1.out` });
          await task.start({ id: `${id}-c1` });
          const exit = await task.wait({ id: `${id}-c1` });
          assert.equal(exit.exitStatus, 3);
          assert.equal(await Deno.readTextFile(`${dir}/c1.out`), "hello from the sandboxer\n");
          await task.delete({ id: `${id}-c1` });
        } finally {
          conn.close();
        }
      });

      const down = await python(dir, sock, id, "down");
      assert.deepEqual(down["after"], "NOT_FOUND");
      const wait = down["wait"];
      assert.ok(typeof wait === "object" && wait !== null && "exit_status" in wait, JSON.stringify(down));
      const stopped = down["stopped"];
      assert.ok(typeof stopped === "object" && stopped !== null && "state" in stopped);
      assert.equal(stopped.state, "SANDBOX_NOTREADY");
      assert.deepEqual(await qemuPids(id), []);
      // deno-lint-ignore no-console -- timings for the report
      console.log(
        `sandboxer e2e: Create+Start+Status+Metrics ${Math.round(upMs)} ms, QEMU RSS ${rss} bytes, Wait ${
          JSON.stringify(wait)
        }`,
      );
    } finally {
      await s.close({ deleteSandboxes: true });
      await scrub(dir, id);
      assert.deepEqual(await qemuPids(id), []);
      assert.deepEqual(await mountsUnder(dir), []);
      assert.deepEqual(await socketsUnder(dir), []);
      await Deno.remove(dir, { recursive: true });
    }
  },
});
