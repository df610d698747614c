/**
 * The runc-compatible CLI on real QEMU: create/start/state/exec/kill/delete of a busybox bundle,
 * kill -9 of the holder or of QEMU followed by delete --force, a terminal over --console-socket,
 * and `cocoon run --rootfs`. After each delete nothing remains: no QEMU, no holder, no socket, no
 * mount, no state directory.
 */
import assert from "node:assert/strict";
import { closeFd, listenConsoleSocket, readSome, receiveFd } from "../integration/oci_console_peer.ts";
import {
  CLEAN,
  eventually,
  hostCanBoot,
  leftovers,
  type OciWorld,
  pidsMatching,
  withOciWorld,
} from "./oci_world.ts";

const canRun = await hostCanBoot();
const opts = { ignore: !canRun, sanitizeResources: false, sanitizeOps: false };

async function state(w: OciWorld, id: string): Promise<{ status: string; pid: number }> {
  const r = await w.cocoon(["state", id]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

/**
 * `cocoon create`, spawned: the holder keeps its stdout/stderr pipes (the container's stdio), so
 * only its exit status is awaited; the pipes stay readable for the container's output.
 */
async function create(w: OciWorld, args: string[]): Promise<Deno.ChildProcess> {
  const p = w.spawn(["create", ...args]);
  const status = await p.status;
  if (status.code !== 0) {
    const err = await p.stderr.getReader().read();
    assert.fail(`cocoon create failed: ${new TextDecoder().decode(err.value)}`);
  }
  return p;
}

async function ok(w: OciWorld, args: string[]): Promise<string> {
  const r = await w.cocoon(args);
  assert.equal(r.code, 0, `cocoon ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

Deno.test({
  name: "cocoon create/start/state/exec/kill/delete drive a busybox container in a microVM and leave nothing",
  ...opts,
  async fn() {
    await withOciWorld(async (w) => {
      const id = `oci-${crypto.randomUUID().slice(0, 8)}`;
      // PID 1 of a pid namespace ignores TERM unless it handles it: the shell traps it.
      const script = 'trap "exit 143" TERM; echo hello from the guest; while true; do sleep 1; done';
      const b = await w.bundle("b1", ["sh", "-c", script]);
      const t0 = performance.now();
      const c = await create(w, ["--bundle", b, "--pid-file", `${w.dir}/init.pid`, id]);
      const createMs = performance.now() - t0;
      const pid = Number(await Deno.readTextFile(`${w.dir}/init.pid`));
      const s0 = await state(w, id);
      assert.deepEqual([s0.status, s0.pid], ["created", pid]);
      assert.equal((await pidsMatching(id, "qemu-system")).length, 1);

      await ok(w, ["start", id]);
      const reader = c.stdout.getReader();
      const first = await reader.read();
      assert.equal(new TextDecoder().decode(first.value), "hello from the guest\n");
      assert.equal((await state(w, id)).status, "running");

      const e = await w.cocoon(["exec", id, "sh", "-c", "echo from exec; exit 5"]);
      assert.deepEqual([e.code, e.stdout], [5, "from exec\n"]);
      const cat = await w.cocoon(["exec", id, "cat"], { stdin: "piped stdin\n" });
      assert.deepEqual([cat.code, cat.stdout], [0, "piped stdin\n"]);
      const ps = JSON.parse(await ok(w, ["ps", "--format", "json", id]));
      assert.ok(Array.isArray(ps) && ps.length >= 1);
      const list = JSON.parse(await ok(w, ["list", "--format", "json"]));
      assert.deepEqual(list.map((c: { id: string }) => c.id), [id]);

      await ok(w, ["pause", id]);
      assert.equal((await state(w, id)).status, "paused");
      await ok(w, ["resume", id]);
      assert.equal((await state(w, id)).status, "running");

      await ok(w, ["kill", id, "TERM"]);
      assert.ok(await eventually(async () => (await pidsMatching(id, "__holder")).length === 0, 30_000));
      assert.equal((await reader.read()).done, true); // the holder closed the container's stdout
      await c.stderr.cancel();
      const stopped = await state(w, id);
      assert.deepEqual([stopped.status, stopped.pid], ["stopped", 0]);
      await ok(w, ["delete", id]);
      assert.deepEqual(await leftovers(w, id), CLEAN);
      const gone = await w.cocoon(["state", id]);
      assert.equal(gone.code, 1);
      assert.match(gone.stderr, /does not exist/);
      // deno-lint-ignore no-console
      console.log(`create (boot + container) took ${Math.round(createMs)} ms`);
    });
  },
});

Deno.test({
  name: "delete --force cleans up after kill -9 of the holder and after kill -9 of QEMU",
  ...opts,
  async fn() {
    await withOciWorld(async (w) => {
      const b = await w.bundle("b1", ["sleep", "600"]);
      for (const victim of ["__holder", "qemu-system"]) {
        const id = `oci-${crypto.randomUUID().slice(0, 8)}`;
        const c = await create(w, ["--bundle", b, id]);
        await c.stdout.cancel();
        await c.stderr.cancel();
        await ok(w, ["start", id]);
        const [pid] = await pidsMatching(id, victim);
        assert.ok(pid !== undefined, `no ${victim} process`);
        Deno.kill(pid, "SIGKILL");
        assert.ok(await eventually(async () => (await pidsMatching(id, victim)).length === 0, 10_000));
        if (victim === "qemu-system") {
          // the holder sees its VM die and ends (the container is gone with it)
          assert.ok(await eventually(async () => (await pidsMatching(id, "__holder")).length === 0, 30_000));
        }
        assert.equal((await state(w, id)).status, "stopped");
        await ok(w, ["delete", "--force", id]);
        assert.deepEqual(await leftovers(w, id), CLEAN, `after kill -9 of ${victim}`);
      }
    });
  },
});

Deno.test({
  name:
    "create with a terminal sends the pty master to --console-socket; run --rootfs prints and exits with the status",
  ...opts,
  async fn() {
    await withOciWorld(async (w) => {
      const id = `oci-${crypto.randomUUID().slice(0, 8)}`;
      const b = await w.bundle("tty", ["sh", "-c", "tty; echo on-a-terminal"], { terminal: true });
      const sock = `${w.dir}/console.sock`;
      const listener = listenConsoleSocket(sock);
      try {
        const pending = create(w, ["--bundle", b, "--console-socket", sock, id]);
        const { fd } = receiveFd(listener, 180_000);
        try {
          const c = await pending;
          await c.stdout.cancel();
          await c.stderr.cancel();
          await ok(w, ["start", id]);
          let out = "";
          for (let i = 0; i < 50 && !out.includes("on-a-terminal"); i++) out += readSome(fd, 200);
          assert.match(out, /\/dev\/pts\/\d+\r?\n/);
          assert.match(out, /on-a-terminal/);
        } finally {
          closeFd(fd);
        }
        await ok(w, ["delete", "--force", id]);
        assert.deepEqual(await leftovers(w, id), CLEAN);
      } finally {
        closeFd(listener);
      }

      const hi = await w.cocoon(["run", "--rootfs", w.rootfs, "--", "echo", "hi"]);
      assert.deepEqual([hi.code, hi.stdout], [0, "hi\n"], hi.stderr);
      const seven = await w.cocoon([
        "run",
        "--rootfs",
        w.rootfs,
        "--memory",
        "256m",
        "--",
        "sh",
        "-c",
        "exit 7",
      ]);
      assert.equal(seven.code, 7, seven.stderr);
      assert.deepEqual(await Array.fromAsync(Deno.readDir(`${w.root}/oci`)), []);
    });
  },
});
