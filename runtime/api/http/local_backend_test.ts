/**
 * localBackend() on the sandbox core with the in-memory VM, agent and store of
 * tests/integration/sandbox_fakes.ts: views from the records, ownerless sandboxes attached per
 * action and released after (pause, resume, exec, stats, container and sandbox delete), holder
 * routes through a fake holder control socket.
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
import { openSandboxRuntime } from "../../sandbox/runtime.ts";
import { createSandboxWith, fetchSandboxWith, type LibraryHooks } from "../library/mod.ts";
import { writeHolderInfo } from "../../holder/info.ts";
import { processStartTime } from "../../sys/process_identity.ts";
import { ociPaths } from "../../holder/paths.ts";
import { ControlServer } from "../../holder/server.ts";
import { encodeFrame, FRAME, type HolderRequest, jsonBytes } from "../../holder/wire.ts";
import { containerId, sandboxId } from "../../ids.ts";
import { minimalSpec, parseOciSpec } from "../../oci/spec.ts";
import { Sandbox as CoreSandbox } from "../../sandbox/sandbox.ts";
import { localBackend } from "./local_backend.ts";
import type { ExecEvent } from "./types.ts";

const log = createLogger({ level: "error", sink: nullSink });

async function collect(it: AsyncIterable<ExecEvent>): Promise<ExecEvent[]> {
  const out: ExecEvent[] = [];
  for await (const e of it) out.push(e);
  return out;
}

Deno.test({
  name: "localBackend() acts on an ownerless sandbox by attaching it for each action and releasing it",
  permissions: "inherit",
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "cocoon-api-it-" });
    try {
      const host = new FakeHost();
      const store = new MemoryStore();
      const config = resolveConfig({
        hypervisor: { qemu: { kernel: "/k/vmlinuz", initrd: "/k/initrd.img", default_vcpus: 1 } },
        runtime: { state_dir: `${dir}/run`, internetworking_model: "none" },
        agent: { dial_timeout: 5 },
      }, { file: "test", dropIns: [] });
      const hooks: LibraryHooks = {
        plugins: { hypervisor: new FakeHypervisor(host), store, storage: { "9p": new RecordingShare() } },
        connectAgent: fakeConnector(host),
      };
      await Deno.mkdir(`${dir}/rootfs`);
      const sb = await createSandboxWith({ id: "sb1", config }, hooks);
      await sb.createContainer({ id: "c1", rootfs: `${dir}/rootfs`, args: ["sleep", "600"] });
      await sb.startContainer("c1");
      await sb.release();

      const runtime = await openSandboxRuntime(config, {
        log,
        ...(hooks.plugins ? { plugins: hooks.plugins } : {}),
        ...(hooks.connectAgent ? { connectAgent: hooks.connectAgent } : {}),
      });
      let attached = 0;
      const backend = localBackend({
        runtime,
        log,
        attach: (id) => {
          attached++;
          return fetchSandboxWith(id, { config }, hooks);
        },
      });

      const [v] = await backend.list();
      assert.equal(v?.id, "sb1");
      assert.equal(v.state.kind, "ready");
      assert.deepEqual(v.owner, { kind: "none" });
      assert.deepEqual(v.containers.map((c) => [c.id, c.state.kind]), [["c1", "running"]]);
      assert.ok(v.startSeconds !== null && v.startSeconds >= 0);
      assert.equal(attached, 0, "views do not attach");

      await backend.pause("sb1");
      assert.equal((await backend.get("sb1")).state.kind, "paused");
      assert.equal(host.running.get("sb1")?.paused, true);
      await assert.rejects(backend.pause("sb1"), { code: "FailedPrecondition" });
      await backend.resume("sb1");
      assert.equal((await backend.get("sb1")).state.kind, "ready");

      const events = await collect(await backend.exec("sb1", "c1", { args: ["sh", "-c", "exit 5"] }));
      assert.equal(events[0]?.kind, "started");
      assert.deepEqual(events.at(-1), { kind: "exit", status: 5 });
      const echoed = await collect(await backend.exec("sb1", "c1", { args: ["echo", "hi"] }));
      assert.equal(
        echoed.filter((e) => e.kind === "stdout").map((e) => e.kind === "stdout" ? e.data : "").join(""),
        "hi\n",
      );
      await assert.rejects(backend.exec("sb1", "nope", { args: ["true"] }), { code: "NotFound" });

      const stats = await backend.guestStats("sb1");
      assert.deepEqual(stats?.map((s) => s.containerId), ["c1"]);

      // Every action released the sandbox: this "process" can fetch it now.
      const again = await fetchSandboxWith("sb1", { config }, hooks);
      await again.release();

      await assert.rejects(backend.deleteContainer("sb1", "c1", { force: false }), {
        code: "FailedPrecondition",
      });
      await backend.deleteContainer("sb1", "c1", { force: true });
      assert.deepEqual(await backend.containers("sb1"), []);
      await backend.delete("sb1", { force: false });
      assert.deepEqual(await backend.list(), []);
      assert.equal(host.running.size, 0, "the VM is gone");
      await assert.rejects(backend.get("sb1"), { code: "NotFound" });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "localBackend() with more stores lists and acts on the sandboxes of each, with that store's configuration",
  permissions: "inherit",
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "cocoon-api-stores-" });
    try {
      const host = new FakeHost();
      const world = (name: string) => {
        const config = resolveConfig({
          hypervisor: { qemu: { kernel: "/k/vmlinuz", initrd: "/k/initrd.img", default_vcpus: 1 } },
          runtime: { state_dir: `${dir}/${name}`, internetworking_model: "none" },
          agent: { dial_timeout: 5 },
        }, { file: `${dir}/${name}.toml`, dropIns: [] });
        const hooks: LibraryHooks = {
          plugins: {
            hypervisor: new FakeHypervisor(host),
            store: new MemoryStore(),
            storage: { "9p": new RecordingShare() },
          },
          connectAgent: fakeConnector(host),
        };
        return { config, hooks };
      };
      const a = world("a"), b = world("b");
      const open = (w: typeof a) =>
        openSandboxRuntime(w.config, { log, plugins: w.hooks.plugins!, connectAgent: w.hooks.connectAgent! });
      const [rtA, rtB] = [await open(a), await open(b)];
      await (await createSandboxWith({ id: "in-a", config: a.config }, a.hooks)).release();
      await (await createSandboxWith({ id: "in-b", config: b.config }, b.hooks)).release();
      const usedConfig: string[] = [];
      const backend = localBackend({
        runtime: rtA,
        // the same state directory again counts once
        stores: () => [rtB, rtA, rtB],
        log,
        attach: (id, rt) => {
          usedConfig.push(`${id}@${rt.config.source.file}`);
          const w = rt === rtB ? b : a;
          return fetchSandboxWith(id, { config: w.config }, w.hooks);
        },
      });
      assert.deepEqual((await backend.list()).map((v) => v.id).sort(), ["in-a", "in-b"]);
      assert.equal((await backend.get("in-b")).state.kind, "ready");
      await backend.pause("in-b");
      assert.equal((await backend.get("in-b")).state.kind, "paused");
      await backend.resume("in-b");
      assert.deepEqual(usedConfig, [`in-b@${dir}/b.toml`, `in-b@${dir}/b.toml`]);
      await backend.delete("in-b", { force: true });
      await backend.delete("in-a", { force: true });
      assert.deepEqual(await backend.list(), []);
      await assert.rejects(backend.get("in-b"), { code: "NotFound" });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "localBackend() routes an OCI holder's sandbox through its control socket, never attaching it",
  permissions: "inherit",
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "cocoon-api-it-" });
    let server: ControlServer | undefined;
    let holderProc: Deno.ChildProcess | undefined;
    try {
      const host = new FakeHost();
      const config = resolveConfig({
        hypervisor: { qemu: { kernel: "/k/vmlinuz", initrd: "/k/initrd.img", default_vcpus: 1 } },
        runtime: { state_dir: `${dir}/run`, internetworking_model: "none" },
        agent: { dial_timeout: 5 },
      }, { file: "test", dropIns: [] });
      const hooks: LibraryHooks = {
        plugins: {
          hypervisor: new FakeHypervisor(host),
          store: new MemoryStore(),
          storage: { "9p": new RecordingShare() },
        },
        connectAgent: fakeConnector(host),
      };
      await Deno.mkdir(`${dir}/rootfs`);
      // An OCI container: the sandbox and its one container share the id.
      const sb = await createSandboxWith({ id: "oci1", config }, hooks);
      await sb.createContainer({ id: "oci1", rootfs: `${dir}/rootfs`, args: ["sleep", "600"] });
      await sb.startContainer("oci1");
      await sb.release();

      const ops: HolderRequest[] = [];
      const paths = ociPaths(`${dir}/run`, containerId("oci1"));
      await Deno.mkdir(paths.dir, { recursive: true });
      // The holder's pid: a child that "exits" when asked to delete (waitHolderGone watches it).
      const holder = holderProc = new Deno.Command("sleep", { args: ["600"] }).spawn();
      server = await ControlServer.listen(paths.socket, async (req, conn) => {
        ops.push(req);
        if (req.op === "delete") holder.kill("SIGKILL");
        if (req.op === "stats") {
          return {
            cpu: { usageNs: 2e9 },
            memory: { usageBytes: 4096, limitBytes: 8192 },
            pids: { current: 3 },
          };
        }
        if (req.op !== "exec") return {};
        await conn.reply({ pid: 7 });
        const f = await conn.reader.readFrame(); // the API closes stdin at once
        assert.equal(f?.type, FRAME.stdinClose);
        await conn.writer.write(encodeFrame(FRAME.stdout, new TextEncoder().encode("out")));
        await conn.writer.write(encodeFrame(FRAME.stderr, new TextEncoder().encode("err")));
        await conn.writer.write(encodeFrame(FRAME.exit, jsonBytes({ status: 4 })));
        return undefined;
      }, log);
      await writeHolderInfo(paths.info, {
        pid: holder.pid,
        startTime: await processStartTime(holder.pid) ?? "",
        socket: paths.socket,
        bundle: "/b",
        createdAt: new Date().toISOString(),
      });
      const runtime = await openSandboxRuntime(config, {
        log,
        ...(hooks.plugins ? { plugins: hooks.plugins } : {}),
        ...(hooks.connectAgent ? { connectAgent: hooks.connectAgent } : {}),
      });
      // The holder names itself in the sandbox's record, as Holder.create does.
      const rec = await runtime.repo.loadSandbox(sandboxId("oci1"));
      await runtime.repo.saveSandbox({
        ...rec,
        owner: {
          kind: "holder",
          pid: holder.pid,
          startTime: await processStartTime(holder.pid) ?? "",
          socket: paths.socket,
        },
      });
      const backend = localBackend({
        runtime,
        log,
        attach: () => Promise.reject(new Error("a holder's sandbox must not be attached")),
      });
      const v = await backend.get("oci1");
      assert.deepEqual(v.owner, { kind: "holder", pid: holder.pid, socket: paths.socket });
      await backend.pause("oci1");
      await backend.resume("oci1");
      const events = await collect(
        await backend.exec("oci1", "oci1", { args: ["echo", "x"], env: { A: "1" } }),
      );
      assert.deepEqual(events.slice(1), [
        { kind: "stdout", data: "out" },
        { kind: "stderr", data: "err" },
        { kind: "exit", status: 4 },
      ]);
      assert.deepEqual(await backend.guestStats("oci1"), [
        { containerId: "oci1", cpuSeconds: 2, memoryBytes: 4096, memoryLimitBytes: 8192, pids: 3 },
      ]);
      await backend.delete("oci1", { force: true });
      assert.deepEqual(ops.map((o) => o.op), ["pause", "resume", "exec", "stats", "delete"]);
      const exec = ops[2];
      assert.ok(exec?.op === "exec");
      assert.deepEqual(exec.process["args"], ["echo", "x"]);
      assert.ok(Array.isArray(exec.process["env"]) && exec.process["env"].includes("A=1"));
      assert.deepEqual(ops[4], { op: "delete", force: true });

      // As `cocoon delete`: the holder is gone, and so are the records and the OCI state directory.
      await holder.status;
      await assert.rejects(backend.get("oci1"), { code: "NotFound" });
      assert.equal(await Deno.stat(paths.dir).then(() => true, () => false), false);
    } finally {
      try {
        holderProc?.kill("SIGKILL");
      } catch { /* exited */ }
      await holderProc?.status;
      await server?.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "localBackend() calls sandboxes this process holds directly, and leaves their deletion to their owner",
  permissions: "inherit",
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "cocoon-api-it-" });
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
      const backend = localBackend({
        runtime,
        log,
        inProcess: (id) => (id === "pod1" ? pod : undefined),
        attach: () => Promise.reject(new Error("an in-process sandbox must not be attached")),
      });
      assert.deepEqual((await backend.get("pod1")).owner, { kind: "in-process", pid: Deno.pid });
      await backend.pause("pod1");
      assert.equal(pod.status().kind, "paused");
      await backend.resume("pod1");
      const events = await collect(await backend.exec("pod1", "c1", { args: ["sh", "-c", "exit 9"] }));
      assert.deepEqual(events.at(-1), { kind: "exit", status: 9 });
      assert.deepEqual((await backend.guestStats("pod1"))?.map((s) => s.containerId), ["c1"]);
      const refused = await backend.delete("pod1", { force: true }).then(() => null, (e: unknown) => e);
      assert.ok(refused instanceof Error && "code" in refused && refused.code === "FailedPrecondition");
      assert.match(refused.message, /held by this process .*the front door that made it removes it/);
      await pod.act({ kind: "delete", opts: { force: true } });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
