/**
 * The library API (mod.ts) against the sandbox core with an in-memory VM, agent and store: config
 * overrides reach the VM, containers in the simple and the full-spec form, processes (stdout, exit
 * statuses, exec, signals), pause/resume, monitor events, release + fetch from a "new process",
 * block and NIC hot-plug (also unplugged from another handle), errors with codes, clean delete.
 */
import assert from "node:assert/strict";
import type { ContainerInfo, Sandbox } from "../../mod.ts";
import {
  createSandboxWith,
  fetchSandboxWith,
  type LibraryHooks,
  listSandboxesWith,
} from "../../runtime/api/library/mod.ts";
import { resolveConfig } from "../../runtime/config/resolve.ts";
import type { ResolvedConfig } from "../../runtime/config/schema.ts";
import { isRuntimeError } from "../../runtime/errors.ts";
import { minimalSpec } from "../../runtime/oci/spec.ts";
import { fakeConnector, FakeHost, FakeHypervisor, MemoryStore, RecordingShare } from "./sandbox_fakes.ts";

interface World {
  dir: string;
  host: FakeHost;
  hv: FakeHypervisor;
  store: MemoryStore;
  rootfs: string;
  config: ResolvedConfig;
  hooks: LibraryHooks;
}

// run: the core checks mounts with cat before removing a sandbox directory.
const permissions = { read: true, write: true, env: true, sys: true, run: ["cat"] };

async function withWorld(fn: (w: World) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "cocoon-lib-it-" });
  try {
    const host = new FakeHost();
    const hv = new FakeHypervisor(host);
    const store = new MemoryStore();
    const rootfs = `${dir}/rootfs`;
    await Deno.mkdir(rootfs);
    const config = resolveConfig(
      {
        hypervisor: {
          qemu: { kernel: "/k/vmlinuz", initrd: "/k/initrd.img", image: "/k/rootfs.erofs", default_vcpus: 1 },
        },
        runtime: { state_dir: `${dir}/run`, internetworking_model: "none" },
        agent: { dial_timeout: 5 },
      },
      { file: "test", dropIns: [] },
    );
    // The share plugin is per "process" state-free, so every handle may get the same instance.
    const hooks: LibraryHooks = {
      plugins: { hypervisor: hv, store, storage: { "9p": new RecordingShare() } },
      connectAgent: fakeConnector(host),
    };
    await fn({ dir, host, hv, store, rootfs, config, hooks });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const code = (c: string) => (e: unknown) => isRuntimeError(e) && e.code === c;

Deno.test({
  name: "createSandbox() boots with the caller's vcpus/memory overrides and lists the sandbox",
  permissions,
  async fn() {
    await withWorld(async (w) => {
      const sb = await createSandboxWith({ id: "lib1", config: w.config, vcpus: 2, memoryMiB: 384 }, w.hooks);
      assert.equal(sb.id, "lib1");
      const cfg = w.hv.configs[0]!;
      assert.equal(cfg.vcpus, 2);
      assert.equal(cfg.memoryMiB, 384);
      const st = await sb.status();
      assert.equal(st.state.kind, "ready");
      assert.deepEqual([st.vcpus, st.memoryMiB, st.pids.length], [2, 384, 1]);
      const all = await listSandboxesWith({ config: w.config }, w.hooks);
      assert.deepEqual(all.map((s) => [s.id, s.state.kind]), [["lib1", "ready"]]);
      await assert.rejects(
        createSandboxWith({ id: "lib1", config: w.config }, w.hooks),
        code("AlreadyExists"),
      );
      await assert.rejects(
        createSandboxWith({ config: w.config, vcpus: 0 }, w.hooks),
        code("InvalidArgument"),
      );
      await sb.delete();
    });
  },
});

Deno.test({
  name: "Sandbox runs two containers (args and full spec), execs, signals and reports exit statuses",
  permissions,
  async fn() {
    await withWorld(async (w) => {
      const sb = await createSandboxWith({ id: "lib2", config: w.config }, w.hooks);
      const events: string[] = [];
      const stop = new AbortController();
      const watching = (async () => {
        for await (const e of sb.monitor({ signal: stop.signal })) {
          if (e.kind === "exit") events.push(`${e.containerId}/${e.execId ?? ""}=${e.exitStatus}`);
        }
      })();

      const c1 = await sb.createContainer({
        id: "echo",
        rootfs: w.rootfs,
        args: ["echo", "hi"],
        env: { A: "1" },
      });
      assert.equal(c1.state.kind, "created");
      const init = await sb.startContainer("echo");
      assert.equal(init.id, undefined);
      assert.ok(init.pid > 0);
      assert.equal(await new Response(init.io.stdout).text(), "hi\n");
      assert.equal(await init.wait(), 0);
      assert.equal((await sb.statusContainer("echo")).state.kind, "stopped");

      await sb.createContainer({
        id: "svc",
        rootfs: w.rootfs,
        spec: minimalSpec(["sleep", "600"]),
      });
      await sb.startContainer("svc");
      const ex = await sb.enterContainer("svc", { id: "e1", args: ["sh", "-c", "exit 7"] });
      assert.equal(ex.id, "e1");
      assert.equal(await sb.waitProcess("svc", "e1"), 7);
      const info: ContainerInfo = await sb.statusContainer("svc");
      assert.equal(info.state.kind, "running");
      assert.equal(info.processes["e1"]?.kind, "exited");

      await sb.winsizeProcess("svc", undefined, { rows: 24, columns: 80 });
      await assert.rejects(
        sb.winsizeProcess("svc", undefined, { rows: 0, columns: 80 }),
        code("InvalidArgument"),
      );
      await sb.signalProcess("svc", undefined, "KILL");
      assert.equal(await sb.waitProcess("svc"), 137);

      assert.deepEqual((await sb.listContainers()).map((c) => c.id).sort(), ["echo", "svc"]);
      await sb.deleteContainer("echo");
      await sb.deleteContainer("svc");
      assert.deepEqual(await sb.listContainers(), []);
      stop.abort();
      await watching;
      assert.ok(events.includes("svc/e1=7"), events.join(","));
      assert.ok(events.includes("svc/=137"), events.join(","));
      await sb.delete();
    });
  },
});

Deno.test({
  name: "Sandbox.createContainer() refuses a mix of spec and args, empty args and a bad spec",
  permissions,
  async fn() {
    await withWorld(async (w) => {
      const sb = await createSandboxWith({ id: "lib3", config: w.config }, w.hooks);
      await assert.rejects(
        sb.createContainer({ id: "x", rootfs: w.rootfs, args: ["true"], spec: minimalSpec(["true"]) }),
        (e) => code("InvalidArgument")(e) && /either "spec" or "args"/.test(String(e)),
      );
      await assert.rejects(sb.createContainer({ id: "x", rootfs: w.rootfs }), code("InvalidArgument"));
      await assert.rejects(
        sb.createContainer({ id: "x", rootfs: w.rootfs, spec: { ociVersion: 5 } }),
        code("InvalidArgument"),
      );
      await assert.rejects(sb.enterContainer("nope", { args: ["true"] }), code("NotFound"));
      await assert.rejects(sb.statusContainer("nope"), code("NotFound"));
      await sb.delete();
    });
  },
});

Deno.test({
  name: "Sandbox.pause()/resume() move the sandbox between ready and paused; paused refuses containers",
  permissions,
  async fn() {
    await withWorld(async (w) => {
      const sb = await createSandboxWith({ id: "lib4", config: w.config }, w.hooks);
      await sb.pause();
      assert.equal((await sb.status()).state.kind, "paused");
      assert.equal(w.host.running.get("lib4")?.paused, true);
      await assert.rejects(
        sb.createContainer({ id: "c", rootfs: w.rootfs, args: ["true"] }),
        code("FailedPrecondition"),
      );
      await sb.resume();
      assert.equal((await sb.status()).state.kind, "ready");
      assert.equal(w.host.running.get("lib4")?.paused, false);
      await sb.delete();
    });
  },
});

Deno.test({
  name: "release() leaves the VM running; fetchSandbox() from a new runtime takes over and deletes",
  permissions,
  async fn() {
    await withWorld(async (w) => {
      let sb: Sandbox = await createSandboxWith({ id: "lib5", config: w.config }, w.hooks);
      await sb.createContainer({ id: "long", rootfs: w.rootfs, args: ["sleep", "600"] });
      await sb.startContainer("long");
      const img = `${w.dir}/disk.img`;
      await Deno.writeFile(img, new Uint8Array(1024 * 1024));
      const dev = await sb.addDevice({ kind: "block", path: img, id: "data" });
      assert.deepEqual([dev.id, dev.driver, dev.readOnly, dev.guestAddress], [
        "data",
        "virtio-blk",
        false,
        "0000:01:00.0",
      ]);
      await assert.rejects(sb.addDevice({ kind: "block", path: img, id: "data" }), code("AlreadyExists"));
      await assert.rejects(sb.addDevice({ kind: "block", path: `${w.dir}/none` }), code("NotFound"));
      const nic = await sb.addInterface({
        name: "eth1",
        tap: "tapgiven0",
        addresses: ["10.9.0.2/24"],
        mtu: 1400,
      });
      assert.deepEqual(nic.addresses, [{ family: 4, address: "10.9.0.2", prefix: 24 }]);
      const running = w.host.running.get("lib5")!;
      assert.deepEqual(
        running.devices.filter((d) => d.kind !== "share-fs" && d.id !== "userland").map((d) => d.id),
        [
          "data",
          "nic-eth1",
        ],
      );
      await assert.rejects(
        sb.addInterface({ name: "eth2", addresses: ["10.9.0.300/24"] }),
        code("InvalidArgument"),
      );

      await sb.release();
      await sb.release(); // idempotent
      assert.ok(w.host.running.has("lib5"), "the VM keeps running");
      await assert.rejects(sb.pause(), code("FailedPrecondition"));
      assert.throws(() => sb.ioStream("long"), code("FailedPrecondition"));

      sb = await fetchSandboxWith("lib5", { config: w.config }, w.hooks);
      assert.equal((await sb.statusContainer("long")).state.kind, "running");
      assert.deepEqual((await sb.listDevices()).map((d) => d.id), ["data"]);
      await sb.removeDevice("data");
      await sb.removeInterface("eth1");
      await assert.rejects(sb.removeInterface("eth1"), code("NotFound"));
      assert.deepEqual(running.devices.filter((d) => d.id === "data" || d.id === "nic-eth1"), []);

      await assert.rejects(sb.delete(), code("FailedPrecondition")); // a container still runs
      await sb.delete({ force: true });
      assert.equal(w.host.running.has("lib5"), false);
      assert.deepEqual([...w.store.data.keys()], []);
      await assert.rejects(Deno.stat(`${w.dir}/run/sandboxes/lib5`), Deno.errors.NotFound);
      assert.deepEqual(await listSandboxesWith({ config: w.config }, w.hooks), []);
      await assert.rejects(fetchSandboxWith("lib5", { config: w.config }, w.hooks), code("NotFound"));
    });
  },
});

Deno.test({
  name: "fetchSandbox() of a sandbox whose VM is gone reports it stopped and delete force cleans up",
  permissions,
  async fn() {
    await withWorld(async (w) => {
      const sb = await createSandboxWith({ id: "lib6", config: w.config }, w.hooks);
      await sb.release();
      w.host.running.delete("lib6"); // the VMM died while nobody held the sandbox
      const again = await fetchSandboxWith("lib6", { config: w.config }, w.hooks);
      assert.equal((await again.status()).state.kind, "stopped");
      await again.delete({ force: true });
      assert.deepEqual(await listSandboxesWith({ config: w.config }, w.hooks), []);
    });
  },
});

Deno.test({
  name: "Sandbox.monitor() ends with a vm-exit event when the VM goes away",
  permissions,
  async fn() {
    await withWorld(async (w) => {
      const sb = await createSandboxWith({ id: "lib7", config: w.config }, w.hooks);
      const kinds: string[] = [];
      const watching = (async () => {
        for await (const e of sb.monitor()) {
          kinds.push(e.kind === "vm-exit" ? `vm-exit:${e.exit.kind}` : e.kind);
        }
      })();
      await sb.delete({ force: true });
      await watching; // ends by itself
      assert.deepEqual(kinds.filter((k) => k.startsWith("vm-exit")), ["vm-exit:killed"]);
    });
  },
});

Deno.test({
  name: "a sandbox released while paused is fetched, resumed (agent reconnected) and runs containers",
  permissions,
  async fn() {
    await withWorld(async (w) => {
      const sb = await createSandboxWith({ id: "lib8", config: w.config }, w.hooks);
      await sb.pause();
      await sb.release();
      const again = await fetchSandboxWith("lib8", { config: w.config }, w.hooks);
      assert.equal((await again.status()).state.kind, "paused");
      await again.resume();
      await again.createContainer({ id: "after", rootfs: w.rootfs, args: ["echo", "back"] });
      const p = await again.startContainer("after");
      assert.equal(await new Response(p.io.stdout).text(), "back\n");
      assert.equal(await p.wait(), 0);
      await again.delete();
    });
  },
});
