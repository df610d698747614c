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

async function podmanBase(w: OciWorld): Promise<string[]> {
  const launcher = await w.launcher();
  return [
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
}

async function podmanFor(w: OciWorld): Promise<Podman> {
  const base = await podmanBase(w);
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

Deno.test({
  name: "podman run -it is interactive in a terminal: typing, output, exit status",
  ignore: opts.ignore || !await Deno.stat("/usr/bin/tmux").then(() => true, () => false),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withOciWorld(async (w) => {
      const base = await podmanBase(w);
      const sock = `cpod-${crypto.randomUUID().slice(0, 8)}`;
      const name = `it-${sock}`;
      const dec = new TextDecoder();
      const tmux = async (args: string[]) =>
        dec.decode(
          // its socket in the world (with -L, tmux would make /tmp/tmux-0 and leave it)
          (await new Deno.Command("tmux", { args: ["-S", `${w.dir}/${sock}.tmux`, ...args], stdout: "piped" })
            .output()).stdout,
        );
      const podman = await podmanFor(w);
      try {
        const cmd = ["podman", ...base, ...RUN, "-it", "--name", name, "--rootfs", w.rootfs, "sh"].join(" ");
        await tmux(["new-session", "-d", "-s", "it", "-x", "100", "-y", "30", cmd]);
        const until = async (re: RegExp, ms: number) => {
          const deadline = Date.now() + ms;
          while (Date.now() < deadline) {
            if (re.test(await tmux(["capture-pane", "-t", "it", "-p"]))) return;
            await new Promise((r) => setTimeout(r, 500));
          }
          assert.fail(`no ${re} on the terminal: ${await tmux(["capture-pane", "-t", "it", "-p"])}`);
        };
        await until(/^\/ #/m, 120_000);
        await tmux(["send-keys", "-t", "it", "echo typed-$((6*7))", "Enter"]);
        await until(/^typed-42$/m, 20_000);
        // The size reaches the guest asynchronously: ask until it shows.
        for (let i = 0; i < 30; i++) {
          await tmux(["send-keys", "-t", "it", "stty size", "Enter"]);
          await new Promise((r) => setTimeout(r, 700));
          if (/^30 100$/m.test(await tmux(["capture-pane", "-t", "it", "-p"]))) break;
        }
        await until(/^30 100$/m, 1_000);
        await tmux(["send-keys", "-t", "it", "exit 6", "Enter"]);
        const deadline = Date.now() + 60_000;
        let state = "";
        while (Date.now() < deadline && state !== "exited") {
          state = (await podman(["inspect", "-f", "{{.State.Status}}", name])).stdout.trim();
          await new Promise((r) => setTimeout(r, 500));
        }
        assert.equal((await podman(["inspect", "-f", "{{.State.ExitCode}}", name])).stdout.trim(), "6");
        assert.equal((await podman(["rm", name])).code, 0);
        assert.deepEqual(await pidsMatching(w.root, "qemu-system"), []);
      } finally {
        await tmux(["kill-server"]).catch(() => "");
        await podman(["rm", "-f", name]).catch(() => {});
      }
    });
  },
});
