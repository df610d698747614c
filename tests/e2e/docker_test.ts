/**
 * Docker (Debian 12's docker.io 20.10) with the installed Cocoon as a runtime, configured as the
 * README says (`"runtimes": {"cocoon": {"path": ..., "runtimeArgs": ["--config", ...]}}`), driven
 * with the docker CLI: `--network none`, the default bridge and a user-defined bridge with `-p`
 * reachable from the host, `logs`, `exec` with and without `-t`, `stats` (the VM's memory),
 * `pause`/`unpause`, `stop`, `-it` interactive in a terminal (typing, resize, exit status), `rm -f`
 * while the container is still being created, `-m`/`--cpuset-cpus` sizing the VM. dockerd runs
 * privately: its own data root, an exec root under /var/run (a link to /run, as Docker's own is),
 * its own socket; nothing may be left afterwards.
 */
import assert from "node:assert/strict";
import { hostCanBoot, pidsMatching, withOciWorld } from "./oci_world.ts";
import { cocoonBin } from "../utils/program.ts";
import { readmeBlock } from "../utils/readme.ts";

const DOCKER = "/usr/bin/docker";
const DOCKERD = "/usr/sbin/dockerd";
const exists = (p: string) => Deno.stat(p).then(() => true, () => false);
const canRun = await hostCanBoot() && await exists(DOCKERD) && await exists(DOCKER) &&
  await exists("/usr/bin/tmux");
const opts = { ignore: !canRun, sanitizeResources: false, sanitizeOps: false };
const dec = new TextDecoder();

interface Out {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(cmd: string, args: string[], timeoutMs = 180_000): Promise<Out> {
  const out = await new Deno.Command(cmd, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(timeoutMs),
  }).output();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

async function until(what: string, fn: () => Promise<boolean>, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`timed out waiting for ${what}`);
}

Deno.test({
  name: "docker 20.10 runs containers in Cocoon microVMs like runc: networks, -p, -it, exec, stats, rm -f",
  ...opts,
  async fn() {
    await withOciWorld(async (w) => {
      const tag = crypto.randomUUID().slice(0, 8);
      const data = `${w.dir}/docker`;
      const execRoot = `/var/run/cdk-${tag}`; // /var/run -> /run, like Docker's default exec root
      const sock = `${data}/docker.sock`;
      await Deno.mkdir(data, { recursive: true });
      // The world's configuration with the default network model (the OCI world runs with none).
      const config = `${data}/configuration.toml`;
      await Deno.writeTextFile(
        config,
        (await Deno.readTextFile(w.config)).replace(
          'internetworking_model = "none"',
          'internetworking_model = "tcfilter"',
        ),
      );
      // The README's Docker snippet as is, pointed at the installed program under test, with this
      // world's configuration and private directories.
      const snippet = JSON.parse(await readmeBlock("json", '"runtimes"'));
      assert.equal(snippet.runtimes.cocoon.path, "/usr/local/bin/cocoon");
      snippet.runtimes.cocoon.path = cocoonBin();
      snippet.runtimes.cocoon.runtimeArgs = ["--config", config];
      await Deno.writeTextFile(
        `${data}/daemon.json`,
        JSON.stringify({
          ...snippet,
          "data-root": `${data}/root`,
          "exec-root": execRoot,
          pidfile: `${data}/docker.pid`,
          hosts: [`unix://${sock}`],
          "storage-driver": "vfs",
        }),
      );
      const dockerd = new Deno.Command(DOCKERD, {
        args: ["--config-file", `${data}/daemon.json`],
        stdin: "null",
        stdout: "null",
        stderr: "piped",
      }).spawn();
      const dlog: string[] = [];
      void (async () => {
        for await (const c of dockerd.stderr) dlog.push(dec.decode(c));
      })().catch(() => {});
      const docker = (args: string[], ms?: number) => run(DOCKER, ["-H", `unix://${sock}`, ...args], ms);
      // Each phase's duration, printed as it ends: a failure or a slow run shows where the time went.
      let phaseAt = performance.now();
      const phase = (name: string) => {
        const now = performance.now();
        // deno-lint-ignore no-console
        console.log(`docker e2e: ${name}: ${Math.round(now - phaseAt)} ms`);
        phaseAt = now;
      };
      // its socket in the world (with -L, tmux would make /tmp/tmux-0 and leave it)
      const tmux = (args: string[]) => run("tmux", ["-S", `${data}/tmux-${tag}.sock`, ...args]);
      try {
        await until("dockerd", async () => (await docker(["version"])).code === 0, 60_000);
        const tar = new Deno.Command("tar", { args: ["-C", w.rootfs, "-c", "."], stdout: "piped" }).spawn();
        const imp = new Deno.Command(DOCKER, {
          args: ["-H", `unix://${sock}`, "import", "-", "cocoon-e2e:1"],
          stdin: "piped",
          stdout: "null",
          stderr: "piped",
        }).spawn();
        await tar.stdout.pipeTo(imp.stdin);
        assert.ok((await imp.output()).success, "docker import");
        const img = "cocoon-e2e:1";
        const rt = ["--runtime", "cocoon"];

        phase("dockerd up, image imported");
        // --network none: output and exit status.
        const none = await docker([
          "run",
          "--rm",
          ...rt,
          "--network",
          "none",
          img,
          "sh",
          "-c",
          "echo hi; exit 3",
        ]);
        assert.equal(none.code, 3, none.stderr);
        assert.equal(none.stdout, "hi\n");

        phase("run --network none");
        // The default bridge: Docker's prestart hook configured the pod netns, the guest has its eth0.
        const bridge = await docker([
          "run",
          "--rm",
          ...rt,
          img,
          "sh",
          "-c",
          "ip -4 addr show eth0; ip route",
        ]);
        assert.equal(bridge.code, 0, bridge.stderr);
        assert.match(bridge.stdout, /inet 172\.17\.\d+\.\d+\/16/);
        assert.match(bridge.stdout, /default via 172\.17\.0\.1/);

        phase("run on the default bridge");
        // A user-defined bridge with a published port, then logs, exec, stats, pause, stop.
        const net = `cnet-${tag}`;
        assert.equal((await docker(["network", "create", net])).code, 0);
        const port = 20000 + Math.floor(Math.random() * 20000);
        await Deno.mkdir(`${w.rootfs}/www`, { recursive: true }).catch(() => {});
        const web = await docker([
          "run",
          "-d",
          "--name",
          `web-${tag}`,
          ...rt,
          "--network",
          net,
          "-p",
          `127.0.0.1:${port}:80`,
          img,
          "sh",
          "-c",
          "mkdir -p /www && echo served-by-cocoon > /www/index.html && echo started && exec httpd -f -p 80 -h /www",
        ]);
        assert.equal(web.code, 0, web.stderr);
        const name = `web-${tag}`;
        let body = "";
        await until("the published port", async () => {
          body = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(3000) })
            .then((r) => r.text()).catch(() => "");
          return body === "served-by-cocoon\n";
        }, 60_000);
        phase("run -d -p and the published port answering");
        assert.match((await docker(["logs", name])).stdout, /started/);
        const ex = await docker(["exec", name, "sh", "-c", "echo from-exec; exit 4"]);
        assert.equal(ex.code, 4);
        assert.equal(ex.stdout, "from-exec\n");
        const ext = await docker(["exec", "-t", name, "tty"]);
        assert.equal(ext.code, 0, ext.stderr);
        assert.match(ext.stdout, /^\/dev\/pts\/\d+/);
        const stats = await docker(["stats", "--no-stream", "--format", "{{.MemUsage}}", name]);
        const mib = /^([\d.]+)(MiB|GiB)/.exec(stats.stdout);
        assert.ok(mib !== null, stats.stdout + stats.stderr);
        const used = Number(mib[1]) * (mib[2] === "GiB" ? 1024 : 1);
        // The VM's memory (QEMU, virtiofsd, holder), not the caller's host cgroup: under the VM's
        // size (512 MiB here) plus QEMU's own overhead.
        assert.ok(used > 20 && used < 1024, `docker stats memory ${stats.stdout}`);
        // docker update -m reaches the container's limit in the guest (runc update).
        const upd = await docker(["update", "--memory", "300m", "--memory-swap", "600m", name]);
        assert.equal(upd.code, 0, upd.stderr);
        assert.equal(
          (await docker(["exec", name, "cat", "/sys/fs/cgroup/memory.max"])).stdout.trim(),
          "314572800",
        );
        assert.equal((await docker(["pause", name])).code, 0);
        assert.match(
          (await docker(["ps", "--filter", `name=${name}`, "--format", "{{.Status}}"])).stdout,
          /Paused/,
        );
        assert.equal((await docker(["unpause", name])).code, 0);
        assert.equal((await docker(["stop", "-t", "2", name])).code, 0);
        const state = await docker(["inspect", "-f", "{{.State.Status}}", name]);
        assert.equal(state.stdout.trim(), "exited");
        assert.equal((await docker(["rm", name])).code, 0);
        assert.equal((await docker(["network", "rm", net])).code, 0);

        phase("logs, exec, stats, update, pause, stop, rm");
        // -it in a real terminal: typing, output, resize, exit status.
        const it = `it-${tag}`;
        await tmux([
          "new-session",
          "-d",
          "-s",
          it,
          "-x",
          "120",
          "-y",
          "30",
          `${DOCKER} -H unix://${sock} run -it --name ${it} --runtime cocoon --network none ${img} sh`,
        ]);
        const screen = async () => (await tmux(["capture-pane", "-t", it, "-p"])).stdout;
        await until("the shell prompt", async () => /^\/ #/m.test(await screen()), 120_000);
        await tmux(["send-keys", "-t", it, "echo typed-$((6*7))", "Enter"]);
        await until("typed output", async () => /^typed-42$/m.test(await screen()), 20_000).catch(
          async (e) => {
            throw new Error(`${e}; the terminal shows:\n${await screen()}`);
          },
        );
        // The size reaches the guest asynchronously (docker sends it after attaching): ask until it shows.
        const sizeIs = (rows: number, cols: number) => async () => {
          await tmux(["send-keys", "-t", it, "stty size", "Enter"]);
          await new Promise((r) => setTimeout(r, 700));
          return new RegExp(`^${rows} ${cols}$`, "m").test(await screen());
        };
        await until("the terminal size", sizeIs(30, 120), 30_000).catch(async (e) => {
          throw new Error(`${e}; the terminal shows:\n${await screen()}`);
        });
        await tmux(["send-keys", "-t", it, "clear", "Enter"]);
        await tmux(["resize-window", "-t", it, "-x", "100", "-y", "25"]);
        await until("the new size", sizeIs(25, 100), 30_000).catch(async (e) => {
          throw new Error(`${e}; the terminal shows:\n${await screen()}`);
        });
        await tmux(["send-keys", "-t", it, "exit 5", "Enter"]);
        await until(
          "the -it container to exit",
          async () => (await docker(["inspect", "-f", "{{.State.Status}}", it])).stdout.trim() === "exited",
          30_000,
        );
        assert.equal((await docker(["inspect", "-f", "{{.State.ExitCode}}", it])).stdout.trim(), "5");
        assert.equal((await docker(["rm", it])).code, 0);

        phase("run -it: typing, resize, exit status");
        // rm -f while the container is still being created (its VM booting).
        const slow = `slow-${tag}`;
        const starting = docker([
          "run",
          "-d",
          "--name",
          slow,
          ...rt,
          "--network",
          "none",
          img,
          "sleep",
          "600",
        ]);
        await until("the container to be created", async () => {
          const s = await docker(["inspect", "-f", "{{.State.Status}}", slow]);
          return s.code === 0;
        }, 30_000);
        const rm = await docker(["rm", "-f", slow], 120_000);
        assert.equal(rm.code, 0, rm.stderr);
        await starting;
        assert.notEqual((await docker(["inspect", slow])).code, 0, "removed");

        phase("rm -f during create");
        // -m and --cpuset-cpus size the VM (512 MiB + 256 MiB, 1 + 1 vCPUs) and limit the container.
        const sized = await docker([
          "run",
          "--rm",
          ...rt,
          "--network",
          "none",
          "-m",
          "256m",
          "--cpuset-cpus",
          "0",
          img,
          "sh",
          "-c",
          "nproc; cat /sys/fs/cgroup/memory.max; free -m | awk '/Mem/{print $2}'",
        ]);
        assert.equal(sized.code, 0, sized.stderr);
        const [cpus, limit, total] = sized.stdout.trim().split("\n");
        assert.equal(cpus, "2");
        assert.equal(limit, String(256 * 1024 * 1024));
        assert.ok(Number(total) > 600, `guest memory ${total} MiB`);
        phase("run -m --cpuset-cpus");
        assert.deepEqual(await pidsMatching("/run/cdk-", "qemu-system"), [], "no VM left");
      } catch (e) {
        // deno-lint-ignore no-console
        console.error(`--- dockerd log ---\n${dlog.join("").slice(-4000)}`);
        throw e;
      } finally {
        await tmux(["kill-server"]).catch(() => {});
        await docker(["rm", "-f", `web-${tag}`, `it-${tag}`, `slow-${tag}`]).catch(() => {});
        await docker(["network", "rm", `cnet-${tag}`]).catch(() => {});
        try {
          dockerd.kill("SIGTERM");
        } catch { /* gone */ }
        await Promise.race([dockerd.status, new Promise((r) => setTimeout(r, 20_000))]);
        try {
          dockerd.kill("SIGKILL");
        } catch { /* gone */ }
        await dockerd.status.catch(() => {});
        for (const pid of await pidsMatching(`/run/cdk-${tag}`)) {
          try {
            Deno.kill(pid, "SIGKILL");
          } catch { /* gone */ }
        }
        await run("ip", ["link", "del", "docker0"]).catch(() => {});
        const mi = await Deno.readTextFile("/proc/self/mountinfo");
        for (
          const m of mi.split("\n").map((l) => l.split(" ")[4] ?? "").filter((m) =>
            m.includes(`cdk-${tag}`) || m.startsWith(data)
          ).reverse()
        ) {
          await run("umount", ["-l", m]);
        }
        await Deno.remove(`/run/cdk-${tag}`, { recursive: true }).catch(() => {});
      }
    });
  },
});
