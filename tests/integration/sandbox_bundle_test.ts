/**
 * createFromBundle() against the in-memory VM and agent: a bundle becomes a sandbox holding one
 * container of the same id; bad bundles are refused with the right code and leave nothing.
 */
import assert from "node:assert/strict";
import { resolveConfig } from "../../runtime/config/resolve.ts";
import { isRuntimeError } from "../../runtime/errors.ts";
import { createLogger, nullSink } from "../../runtime/log/logger.ts";
import { minimalSpec } from "../../runtime/oci/spec.ts";
import { createFromBundle, openSandboxRuntime } from "../../runtime/sandbox/mod.ts";
import { fakeConnector, FakeHost, FakeHypervisor, MemoryStore, RecordingShare } from "./sandbox_fakes.ts";

async function setup() {
  const dir = await Deno.makeTempDir({ prefix: "cocoon-bundle-it-" });
  const host = new FakeHost();
  const store = new MemoryStore();
  const share = new RecordingShare();
  const cfg = resolveConfig({
    hypervisor: { qemu: { kernel: "/k", initrd: "/i", image: "", enable_annotations: ["default_memory"] } },
    runtime: { state_dir: `${dir}/run` },
  }, { file: "t", dropIns: [] });
  const hv = new FakeHypervisor(host);
  const rt = await openSandboxRuntime(cfg, {
    log: createLogger({ sink: nullSink }),
    plugins: { hypervisor: hv, store, storage: { "9p": share } },
    connectAgent: fakeConnector(host),
  });
  await Deno.mkdir(`${dir}/b/rootfs`, { recursive: true });
  return { dir, host, store, share, hv, rt };
}

const code = (c: string) => (e: unknown) => isRuntimeError(e) && e.code === c;

Deno.test({
  name: "createFromBundle() creates a sandbox and its container from config.json, with annotation overrides",
  async fn() {
    const w = await setup();
    try {
      const spec = {
        ...minimalSpec(["echo", "hi"]),
        annotations: { "io.cocoon.config.hypervisor.default_memory": "768" },
      };
      await Deno.writeTextFile(`${w.dir}/b/config.json`, JSON.stringify(spec));
      const { sandbox, container, bundle } = await createFromBundle(w.rt, {
        id: "ctr1",
        bundle: `${w.dir}/b`,
      });
      assert.equal(sandbox.id, "ctr1");
      assert.equal(container.id, "ctr1");
      assert.equal(container.bundle, `${w.dir}/b`);
      assert.equal(bundle.rootfs, `${w.dir}/b/rootfs`);
      assert.equal(w.hv.configs[0]?.memoryMiB, 768);
      const out = new Response(sandbox.io("ctr1").stdout).text();
      await sandbox.act({ kind: "start-container", containerId: "ctr1" });
      assert.equal((await sandbox.wait("ctr1")).exitStatus, 0);
      assert.equal(await out, "hi\n");
      await sandbox.act({ kind: "delete-container", containerId: "ctr1" });
      await sandbox.act({ kind: "delete" });
      assert.deepEqual(await w.store.list(), []);
    } finally {
      await Deno.remove(w.dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "createFromBundle() refuses malformed config.json, a missing rootfs, a bad id and a taken id, leaving nothing",
  async fn() {
    const w = await setup();
    try {
      const b = `${w.dir}/b`;
      await Deno.writeTextFile(`${b}/config.json`, "{not json");
      await assert.rejects(createFromBundle(w.rt, { id: "x", bundle: b }), code("InvalidArgument"));
      await Deno.writeTextFile(
        `${b}/config.json`,
        JSON.stringify({ ...minimalSpec(["true"]), root: { path: "nope" } }),
      );
      await assert.rejects(createFromBundle(w.rt, { id: "x", bundle: b }), code("NotFound"));
      await assert.rejects(createFromBundle(w.rt, { id: "x", bundle: `${w.dir}/missing` }), code("NotFound"));
      await Deno.writeTextFile(`${b}/config.json`, JSON.stringify(minimalSpec(["sleep", "9"])));
      await assert.rejects(createFromBundle(w.rt, { id: "../../etc", bundle: b }), code("InvalidArgument"));
      assert.deepEqual(await w.store.list(), []);
      assert.equal(w.host.running.size, 0);
      const first = await createFromBundle(w.rt, { id: "x", bundle: b });
      await assert.rejects(createFromBundle(w.rt, { id: "x", bundle: b }), code("AlreadyExists"));
      assert.equal(first.sandbox.status().kind, "ready"); // the other sandbox is untouched
      await first.sandbox.act({ kind: "delete", opts: { force: true } });
      assert.deepEqual(await w.store.list(), []);
      assert.deepEqual([...Deno.readDirSync(`${w.dir}/run/sandboxes`)], []);
    } finally {
      await Deno.remove(w.dir, { recursive: true });
    }
  },
});
