/**
 * The holder in-process against the in-memory VM/agent/store: create → control socket → start →
 * exit status; exec streams over the socket; signals; delete; a terminal through --console-socket;
 * a failed create leaves nothing.
 */
import assert from "node:assert/strict";
import { resolveConfig } from "../../runtime/config/resolve.ts";
import { callHolder, openHolder } from "../../runtime/holder/client.ts";
import { exitStatusOf } from "../../runtime/holder/handlers.ts";
import { Holder } from "../../runtime/holder/holder.ts";
import { readHolderInfo } from "../../runtime/holder/info.ts";
import { type OciPaths, ociPaths } from "../../runtime/holder/paths.ts";
import { encodeFrame, FRAME } from "../../runtime/holder/wire.ts";
import { containerId } from "../../runtime/ids.ts";
import { createLogger, nullSink } from "../../runtime/log/logger.ts";
import { minimalSpec, parseOciSpec } from "../../runtime/oci/spec.ts";
import { openSandboxRuntime, type SandboxRuntime } from "../../runtime/sandbox/mod.ts";
import { closeFd, listenConsoleSocket, readSome, receiveFd } from "./oci_console_peer.ts";
import { fakeConnector, FakeHost, FakeHypervisor, MemoryStore, RecordingShare } from "./sandbox_fakes.ts";

interface World {
  dir: string;
  host: FakeHost;
  hv: FakeHypervisor;
  store: MemoryStore;
  rt: SandboxRuntime;
  paths: OciPaths;
  out: string[];
  err: string[];
  holder(args: string[], opts?: { terminal?: boolean; consoleSocket?: string }): Promise<Holder>;
}

const ID = containerId("c1");
const log = createLogger({ sink: nullSink });

function collector(into: string[]): WritableStream<Uint8Array> {
  const dec = new TextDecoder();
  return new WritableStream({ write: (c) => void into.push(dec.decode(c)) });
}

async function withWorld(fn: (w: World) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "cocoon-holder-it-" });
  const holders: Holder[] = [];
  try {
    const host = new FakeHost();
    const hv = new FakeHypervisor(host);
    const store = new MemoryStore();
    await Deno.mkdir(`${dir}/rootfs`);
    const cfg = resolveConfig(
      {
        hypervisor: { qemu: { kernel: "/k/vmlinuz", initrd: "/k/initrd.img", image: "/k/rootfs.erofs" } },
        runtime: { state_dir: `${dir}/run`, internetworking_model: "none" },
        agent: { dial_timeout: 5 },
      },
      { file: "test", dropIns: [] },
    );
    const rt = await openSandboxRuntime(cfg, {
      log,
      plugins: { hypervisor: hv, store, storage: { "9p": new RecordingShare() } },
      connectAgent: fakeConnector(host),
    });
    const paths = ociPaths(`${dir}/run`, ID);
    await Deno.mkdir(paths.dir, { recursive: true });
    const out: string[] = [];
    const err: string[] = [];
    const w: World = {
      dir,
      host,
      hv,
      store,
      rt,
      paths,
      out,
      err,
      async holder(args, opts = {}) {
        const spec = parseOciSpec(minimalSpec(args, { terminal: opts.terminal ?? false }), "test");
        const h = await Holder.create({
          rt,
          id: ID,
          bundle: { dir, spec, rootfs: `${dir}/rootfs` },
          paths,
          log,
          stdio: { stdin: null, stdout: collector(out), stderr: collector(err) },
          ...(opts.consoleSocket ? { consoleSocket: opts.consoleSocket } : {}),
        });
        holders.push(h);
        return h;
      },
    };
    await fn(w);
  } finally {
    for (const h of holders) await h.closeServer();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test({
  name: "Holder.create() writes holder.json, start over the socket runs the container, done gives its status",
  async fn() {
    await withWorld(async (w) => {
      const h = await w.holder(["echo", "hi"]);
      const info = await readHolderInfo(w.paths.info);
      assert.equal(info?.pid, Deno.pid);
      assert.equal(info?.socket, w.paths.socket);
      assert.deepEqual(await callHolder(w.paths.socket, { op: "ping" }), { pid: Deno.pid });
      await callHolder(w.paths.socket, { op: "start" });
      assert.equal(await h.done, 0);
      assert.equal(w.out.join(""), "hi\n");
      // the VM is stopped and the socket is gone; the record keeps the exit status for `state`
      assert.equal(w.host.running.size, 0);
      await assert.rejects(Deno.stat(w.paths.socket), Deno.errors.NotFound);
      const c = await w.rt.repo.loadContainer(h.sandbox.id, ID);
      assert.deepEqual([c.status.kind, c.status.kind === "stopped" ? c.status.exitStatus : -1], [
        "stopped",
        0,
      ]);
    });
  },
});

Deno.test({
  name: "Holder exits with 7 for `sh -c 'exit 7'` and with 143 after kill TERM of a sleep",
  async fn() {
    await withWorld(async (w) => {
      const h = await w.holder(["sh", "-c", "exit 7"]);
      await callHolder(w.paths.socket, { op: "start" });
      assert.equal(await h.done, 7);
    });
    await withWorld(async (w) => {
      const h = await w.holder(["sleep", "100"]);
      await callHolder(w.paths.socket, { op: "start" });
      await callHolder(w.paths.socket, { op: "kill", signal: 15, all: false });
      assert.equal(await h.done, 143);
    });
    // containerd's runc shim: the kill's reply is lost because the container ended and the holder
    // tore the VM down first; the kill still succeeds (runc's kill returns once the signal is sent).
    await withWorld(async (w) => {
      const h = await w.holder(["sleep", "100"]);
      await callHolder(w.paths.socket, { op: "start" });
      const agent = [...w.host.running.values()][0]?.agent;
      assert.ok(agent !== undefined);
      agent.loseSignalReply = true;
      const t0 = performance.now();
      await callHolder(w.paths.socket, { op: "kill", signal: 9, all: false });
      assert.ok(performance.now() - t0 < 2000, "the kill waited for its own connection to close");
      assert.equal(await h.done, 137);
    });
  },
});

Deno.test({
  name: "Holder exec streams the process's output as frames and ends with its exit status",
  async fn() {
    await withWorld(async (w) => {
      const h = await w.holder(["sleep", "100"]);
      await callHolder(w.paths.socket, { op: "start" });
      const proc = minimalSpec(["echo", "from", "exec"])["process"];
      assert.ok(typeof proc === "object" && proc !== null && !Array.isArray(proc));
      const s = await openHolder(w.paths.socket, { op: "exec", execId: "e1", process: { ...proc } });
      assert.equal(typeof (s.result as { pid: number }).pid, "number");
      const wr = s.conn.writable.getWriter();
      await wr.write(encodeFrame(FRAME.stdinClose)).catch(() => {}); // the holder may be done already
      let out = "";
      let status = -1;
      for (;;) {
        const f = await s.reader.readFrame();
        if (f === null) break;
        if (f.type === FRAME.stdout) out += new TextDecoder().decode(f.payload);
        if (f.type === FRAME.exit) {
          status = exitStatusOf(f.payload);
          break;
        }
      }
      s.conn.close();
      assert.equal(out, "from exec\n");
      assert.equal(status, 0);
      // a duplicate exec id is refused with AlreadyExists
      await assert.rejects(
        callHolder(w.paths.socket, { op: "exec", execId: "e1", process: { ...proc } }),
        (e: unknown) => e instanceof Error && "code" in e && e.code === "AlreadyExists",
      );
      await callHolder(w.paths.socket, { op: "kill", signal: 9, all: true });
      assert.equal(await h.done, 137);
    });
  },
});

Deno.test({
  name: "Holder delete refuses a running container without force and removes everything with force",
  async fn() {
    await withWorld(async (w) => {
      const h = await w.holder(["sleep", "100"]);
      await callHolder(w.paths.socket, { op: "start" });
      await assert.rejects(
        callHolder(w.paths.socket, { op: "delete", force: false }),
        /Cannot delete container "c1" that is not stopped: it is running/,
      );
      await callHolder(w.paths.socket, { op: "delete", force: true });
      assert.equal(await h.done, 137);
      assert.equal(w.host.running.size, 0);
      assert.deepEqual(await w.store.list(), []);
      await assert.rejects(Deno.stat(`${w.dir}/run/sandboxes/c1`), Deno.errors.NotFound);
    });
  },
});

Deno.test({
  name: "Holder with a terminal sends the pty master to --console-socket and the output arrives on it",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withWorld(async (w) => {
      const sock = `${w.dir}/console.sock`;
      const listener = listenConsoleSocket(sock);
      try {
        const h = await w.holder(["echo", "tty"], { terminal: true, consoleSocket: sock });
        const { fd } = receiveFd(listener);
        try {
          await callHolder(w.paths.socket, { op: "start" });
          assert.equal(await h.done, 0);
          assert.equal(readSome(fd, 2000), "tty\n");
        } finally {
          closeFd(fd);
        }
      } finally {
        closeFd(listener);
      }
    });
  },
});

Deno.test({
  name: "Holder.create() fails clearly, writes the error file and leaves no sandbox when the guest refuses",
  async fn() {
    await withWorld(async (w) => {
      await assert.rejects(w.holder(["echo", "hi"], { terminal: true }), /no --console-socket was given/);
      const orig = w.hv.createVm.bind(w.hv);
      w.hv.createVm = async (cfg) => {
        const vm = await orig(cfg);
        const start = vm.start.bind(vm);
        vm.start = async () => {
          await start();
          w.host.running.get(cfg.id)!.agent.failCreate = true;
        };
        return vm;
      };
      await assert.rejects(w.holder(["echo", "hi"]), /crun create failed/);
      const e = JSON.parse(await Deno.readTextFile(w.paths.error));
      assert.deepEqual(e, { code: "Internal", message: "crun create failed" });
      assert.equal(w.host.running.size, 0);
      assert.deepEqual(await w.store.list(), []);
      await assert.rejects(Deno.stat(w.paths.socket), Deno.errors.NotFound);
    });
  },
});
