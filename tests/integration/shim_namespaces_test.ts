/**
 * The daemon's Task API across containerd namespaces and runtime options, called over ttRPC as
 * containerd does (namespace in the `containerd-namespace-ttrpc` metadata) on the in-memory
 * sandbox: one container id in two namespaces makes two tasks in two VMs; runtimeoptions.v1.Options
 * ConfigPath opens the pod with that configuration file; Shutdown with `now` removes the task.
 */
import assert from "node:assert/strict";
import { create, toBinary } from "@bufbuild/protobuf";
import { minimalSpec } from "../../runtime/oci/spec.ts";
import { NAMESPACE_METADATA_KEY } from "../../runtime/protocol/events.ts";
import { OptionsSchema } from "../../runtime/protocol/gen/containerd/runtimeoptions/v1/api_pb.ts";
import { Task } from "../../runtime/protocol/gen/containerd/task/v2/shim_pb.ts";
import { RpcStatusError, TtrpcClient, typedClient } from "../../runtime/protocol/ttrpc/mod.ts";
import { nullSink } from "../../runtime/log/logger.ts";
import { podSandboxId } from "../../runtime/shim/address.ts";
import { readRegistration, writeRegistration } from "../../runtime/shim/registration.ts";
import { FakeHost, RecordingShare } from "./sandbox_fakes.ts";
import { RUNTIME, startEmbeddedDaemon, withShimWorld } from "./shim_harness.ts";

const code = (n: number) => (e: unknown) => e instanceof RpcStatusError && e.grpcCode === n;
const NOT_FOUND = 5, FAILED_PRECONDITION = 9, INVALID_ARGUMENT = 3;
const ns = (n: string) => ({ metadata: { [NAMESPACE_METADATA_KEY]: n } });

Deno.test({
  name:
    "Task API: one id in two namespaces is two tasks in two VMs; ConfigPath picks the pod's config; Shutdown now",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "cshimns-" });
    const host = new FakeHost();
    const configsAsked: string[] = [];
    const daemon = await startEmbeddedDaemon(dir, `${dir}/d`, {
      host,
      share: new RecordingShare(),
      sink: nullSink,
      configsAsked,
    });
    const client = await TtrpcClient.connect(`${dir}/d/cocoon.sock`);
    const task = typedClient(client, Task);
    const bundle = async (name: string, namespace: string) => {
      const b = `${dir}/${name}`;
      await Deno.mkdir(`${b}/rootfs`, { recursive: true });
      await Deno.writeTextFile(
        `${b}/config.json`,
        JSON.stringify(minimalSpec(["sleep", "600"], { rootfs: "rootfs" })),
      );
      await writeRegistration(b, {
        schema: 1,
        id: "c1",
        namespace,
        group: "c1",
        ttrpcAddress: "",
        grpcAddress: "",
        daemonDir: `${dir}/d`,
      });
      return b;
    };
    try {
      const ba = await bundle("a-c1", "a");
      const bb = await bundle("b-c1", "b");
      await task.create({ id: "c1", bundle: ba }, ns("a"));
      await task.create({ id: "c1", bundle: bb }, ns("b"));
      assert.deepEqual(
        [...host.running.keys()].sort(),
        [podSandboxId("a", "c1"), podSandboxId("b", "c1")].sort(),
      );
      assert.notEqual(podSandboxId("a", "c1"), podSandboxId("b", "c1"));
      // Without a namespace an id that two namespaces use is ambiguous.
      await assert.rejects(task.state({ id: "c1" }), code(FAILED_PRECONDITION));
      await task.start({ id: "c1" }, ns("a"));
      assert.equal((await task.state({ id: "c1" }, ns("a"))).status, 2); // RUNNING
      assert.equal((await task.state({ id: "c1" }, ns("b"))).status, 1); // still CREATED
      await assert.rejects(task.state({ id: "c1" }, ns("other")), code(NOT_FOUND));
      await task.kill({ id: "c1", signal: 9 }, ns("a"));
      assert.equal((await task.wait({ id: "c1" }, ns("a"))).exitStatus, 137);
      await task.delete({ id: "c1" }, ns("a"));
      assert.equal(
        (await task.state({ id: "c1" })).status,
        1,
        "b's task is the only c1 now, found without ns",
      );
      assert.deepEqual([...host.running.keys()], [podSandboxId("b", "c1")]);

      // Shutdown with now: the created task in b goes at once (killed, deleted, VM gone).
      await task.shutdown({ id: "c1", now: true }, ns("b"));
      await assert.rejects(task.state({ id: "c1" }, ns("b")), code(NOT_FOUND));
      assert.equal(host.running.size, 0);
      assert.equal(daemon.tasks.size, 0);

      // Runtime options: the pod is opened with its own configuration file.
      const cfg = `${dir}/pod.toml`;
      await Deno.writeTextFile(
        cfg,
        `[hypervisor.qemu]\nkernel = "/k/vmlinuz"\ninitrd = "/k/initrd.img"\nimage = "/k/rootfs.erofs"\n` +
          `default_memory = 300\nshared_fs = "virtio-9p"\n[runtime]\nstate_dir = "${dir}/run2"\n` +
          `internetworking_model = "none"\n[agent]\ndial_timeout = 5\n`,
      );
      const options = (configPath: string) => ({
        typeUrl: "runtimeoptions.v1.Options",
        value: toBinary(OptionsSchema, create(OptionsSchema, { configPath })),
      });
      const bc = await bundle("c-c1", "c");
      await task.create({ id: "c1", bundle: bc, options: options(cfg) }, ns("c"));
      assert.deepEqual(configsAsked, [cfg]);
      assert.equal((await readRegistration(bc))?.configPath, cfg, "for the delete binary");
      assert.equal(daemon.tasks.task("c1", "c").sandbox.record.memoryMiB, 300);
      await task.kill({ id: "c1", signal: 9 }, ns("c"));
      await task.wait({ id: "c1" }, ns("c"));
      await task.delete({ id: "c1" }, ns("c"));
      await assert.rejects(
        task.create({ id: "c2", bundle: bc, options: options("relative.toml") }, ns("c")),
        code(INVALID_ARGUMENT),
      );
      assert.equal(host.running.size, 0);
    } finally {
      await client.close();
      await daemon.close({ deletePods: true });
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});

const canRunContainerd = Deno.uid() === 0 &&
  (await new Deno.Command("sh", { args: ["-c", "command -v containerd && command -v ctr"], stdout: "null" })
    .output().then((r) => r.success, () => false));

Deno.test({
  name:
    "containerd 1.6: ctr -n a and ctr -n b run one container id at once; each namespace sees its own task",
  ignore: !canRunContainerd,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withShimWorld({ embedded: true }, async (w) => {
      const run = (n: string) =>
        w.ctrd.ctr([
          "-n",
          n,
          "run",
          "-d",
          "--runtime",
          RUNTIME,
          "--rootfs",
          w.rootfs,
          "same",
          "sleep",
          "600",
        ]);
      for (const n of ["a", "b"]) {
        const r = await run(n);
        assert.equal(r.code, 0, r.stderr);
      }
      assert.equal(w.host.running.size, 2, "one VM per namespace's pod");
      assert.equal((await w.ctrd.ctr(["-n", "a", "task", "kill", "-s", "KILL", "same"])).code, 0);
      await new Promise((r) => setTimeout(r, 300));
      assert.match((await w.ctrd.ctr(["-n", "a", "task", "ls"])).stdout, /same\s+\d+\s+STOPPED/);
      assert.match((await w.ctrd.ctr(["-n", "b", "task", "ls"])).stdout, /same\s+\d+\s+RUNNING/);
      assert.equal((await w.ctrd.ctr(["-n", "a", "task", "rm", "same"])).code, 0);
      assert.equal((await w.ctrd.ctr(["-n", "b", "task", "rm", "-f", "same"])).code, 0);
      assert.equal(w.host.running.size, 0);
      assert.equal(w.daemon?.tasks.size, 0);
    });
  },
});

Deno.test({
  name:
    "containerd 1.6: ctr run --runtime-config-path reaches the daemon as ConfigPath; the pod uses that file",
  ignore: !canRunContainerd,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withShimWorld({ embedded: true }, async (w) => {
      const cfg = `${w.dir}/pod.toml`;
      await Deno.writeTextFile(
        cfg,
        `[hypervisor.qemu]\nkernel = "/k/vmlinuz"\ninitrd = "/k/initrd.img"\nimage = "/k/rootfs.erofs"\n` +
          `default_memory = 320\n[runtime]\nstate_dir = "${w.dir}/run2"\ninternetworking_model = "none"\n`,
      );
      const r = await w.run(["-d", "--runtime-config-path", cfg], "with-cfg", ["sleep", "600"]);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(w.configsAsked, [cfg]);
      assert.equal(w.daemon?.tasks.task("with-cfg", "default").sandbox.record.memoryMiB, 320);
      assert.equal((await w.ctrd.ctr(["task", "rm", "-f", "with-cfg"])).code, 0);
      assert.equal(w.host.running.size, 0);
    });
  },
});
