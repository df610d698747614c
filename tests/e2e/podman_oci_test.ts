/**
 * podman (Debian's 4.3, with conmon) driving Cocoon as its OCI runtime: `podman --runtime
 * <launcher> run --rm --rootfs DIR echo hi` prints hi, `sh -c 'exit 7'` exits 7, `podman stop` of a
 * sleep ends it with 143 or 137, exec and pause/unpause work, and nothing is left behind. podman
 * runs with private storage, run and tmp directories.
 */
import assert from "node:assert/strict";
import { CLEAN, hostCanBoot, leftovers, type OciWorld, pidsMatching, withOciWorld } from "./oci_world.ts";

async function hasPodman(): Promise<boolean> {
  const r = await new Deno.Command("podman", { args: ["--version"], stdout: "null", stderr: "null" }).output()
    .catch(() => null);
  return r !== null && r.success;
}

const canRun = await hostCanBoot() && await hasPodman();
const opts = { ignore: !canRun, sanitizeResources: false, sanitizeOps: false };

interface Podman {
  (args: string[], o?: { timeoutMs?: number }): Promise<{ code: number; stdout: string; stderr: string }>;
}

async function podmanFor(w: OciWorld): Promise<Podman> {
  const launcher = await w.launcher();
  const base = [
    "--root",
    `${w.dir}/podman/storage`,
    "--runroot",
    `${w.dir}/podman/run`,
    "--tmpdir",
    `${w.dir}/podman/tmp`,
    "--cgroup-manager",
    "cgroupfs",
    "--events-backend",
    "file",
    "--runtime",
    launcher,
  ];
  return async (args, o = {}) => {
    const out = await new Deno.Command("podman", {
      args: [...base, ...args],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(o.timeoutMs ?? 300_000),
    }).output();
    const dec = new TextDecoder();
    return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  };
}

const RUN = ["run", "--network", "none", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"];

Deno.test({
  name: "podman --runtime cocoon run --rm --rootfs prints hi, and exits 7 for sh -c 'exit 7'",
  ...opts,
  async fn() {
    await withOciWorld(async (w) => {
      const podman = await podmanFor(w);
      const hi = await podman([...RUN, "--rm", "--rootfs", w.rootfs, "echo", "hi"]);
      assert.equal(hi.code, 0, hi.stderr);
      assert.equal(hi.stdout, "hi\n");
      const seven = await podman([...RUN, "--rm", "--rootfs", w.rootfs, "sh", "-c", "exit 7"]);
      assert.equal(seven.code, 7, seven.stderr);
      // -t: conmon passes --console-socket; the pty master reaches it, the guest terminal behind it
      const tty = await podman([...RUN, "--rm", "-t", "--rootfs", w.rootfs, "sh", "-c", "tty; exit 4"]);
      assert.equal(tty.code, 4, tty.stderr);
      assert.match(tty.stdout, /^\/dev\/pts\/\d+\r\n$/);
      assert.deepEqual(await pidsMatching(w.root, "qemu-system"), []);
      assert.deepEqual(await Array.fromAsync(Deno.readDir(`${w.root}/oci`)), []);
    });
  },
});

Deno.test({
  name: "podman exec, pause/unpause and stop work on a detached cocoon container",
  ...opts,
  async fn() {
    await withOciWorld(async (w) => {
      const podman = await podmanFor(w);
      const name = `oci-${crypto.randomUUID().slice(0, 8)}`;
      const run = await podman([...RUN, "-d", "--name", name, "--rootfs", w.rootfs, "sleep", "600"]);
      assert.equal(run.code, 0, run.stderr);
      const id = run.stdout.trim();
      const ex = await podman(["exec", name, "sh", "-c", "echo in-exec; exit 3"]);
      assert.deepEqual([ex.code, ex.stdout], [3, "in-exec\n"], ex.stderr);
      // exec -t with no terminal on podman's side (stdin /dev/null): conmon still gets the pty master
      // over --console-socket; the exec'd process sees a terminal and its status comes back.
      for (let i = 0; i < 3; i++) {
        const ext = await podman(["exec", "-t", name, "sh", "-c", "tty; exit 3"]);
        assert.equal(ext.code, 3, `try ${i}: ${ext.stderr}`);
        assert.match(ext.stdout, /^\/dev\/pts\/\d+\r\n$/);
      }
      assert.equal((await podman(["pause", name])).code, 0);
      assert.match((await podman(["inspect", "--format", "{{.State.Status}}", name])).stdout, /paused/);
      assert.equal((await podman(["unpause", name])).code, 0);
      const ps = await podman(["ps", "--format", "{{.Names}}"]);
      assert.match(ps.stdout, new RegExp(name));
      const stop = await podman(["stop", "-t", "5", name]);
      assert.equal(stop.code, 0, stop.stderr);
      const code = (await podman(["inspect", "--format", "{{.State.ExitCode}}", name])).stdout.trim();
      assert.ok(code === "143" || code === "137", `exit code ${code}`);
      assert.equal((await podman(["rm", name])).code, 0);
      assert.deepEqual(await leftovers(w, id), CLEAN);
    });
  },
});
