/**
 * podman (Debian's 4.3 with netavark) driving Cocoon as its OCI runtime with the default network
 * model (tcfilter): `podman run -d -p <port>:80` of busybox httpd. podman makes the netns and the
 * veth on its bridge and names the netns in the spec; the OCI CLI hands it to the sandbox core,
 * which attaches tcfilter, starts QEMU in the netns and configures the guest. The page is fetched
 * through the published host port and from the container's bridge address; `podman rm -f` leaves
 * no QEMU and no sandbox behind.
 */
import assert from "node:assert/strict";
import { ensureGuestImage } from "../utils/guest.ts";
import { hostCanBoot, pidsMatching } from "./sandbox_util.ts";
import { cocoonBin, writeProgramWrapper } from "../utils/program.ts";

async function hasPodman(): Promise<boolean> {
  const r = await new Deno.Command("podman", { args: ["--version"], stdout: "null", stderr: "null" }).output()
    .catch(() => null);
  return r !== null && r.success;
}

const canRun = Deno.env.get("RUNTIME_E2E") === "1" && await hostCanBoot() && await hasPodman();

async function fetchText(url: string, timeoutMs: number): Promise<string> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(5000) });
      return await r.text();
    } catch (e) {
      if (Date.now() > end) throw new Error(`Cannot fetch "${url}" within ${timeoutMs} ms`, { cause: e });
      await new Promise((res) => setTimeout(res, 1000));
    }
  }
}

Deno.test({
  name: "podman run -p <port>:80 through Cocoon (tcfilter): the page is reachable on the host port",
  ignore: !canRun,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const image = await ensureGuestImage();
    const dir = await Deno.makeTempDir({ prefix: "cocoon-podman-net-" });
    // Short: podman's ids are 64 characters and the VM's sockets live below the state root.
    const root = `/run/cpn-${crypto.randomUUID().slice(0, 8)}`;
    const port = 18000 + Math.floor(Math.random() * 2000);
    const name = `cocoon-web-${crypto.randomUUID().slice(0, 6)}`;
    const config = `${dir}/configuration.toml`;
    await Deno.writeTextFile(
      config,
      `[hypervisor.qemu]
kernel = "${image.kernel}"
initrd = "${image.initrd}"
image = "${image.rootfs ?? ""}"
accelerator = "${Deno.env.get("COCOON_TEST_ACCEL") === "kvm" ? "kvm" : "tcg"}"
default_memory = 512
default_maxmemory = 1024
default_maxvcpus = 2
[runtime]
state_dir = "${root}"
internetworking_model = "tcfilter"
[agent]
dial_timeout = 120
`,
    );
    const launcher = `${dir}/cocoon-launcher`;
    await writeProgramWrapper(launcher, cocoonBin(), { COCOON_CONFIG: config });
    const rootfs = `${dir}/rootfs`;
    for (const d of ["bin", "www", "etc", "proc", "sys", "dev", "tmp"]) {
      await Deno.mkdir(`${rootfs}/${d}`, { recursive: true });
    }
    await Deno.copyFile("/bin/busybox", `${rootfs}/bin/busybox`);
    await Deno.chmod(`${rootfs}/bin/busybox`, 0o755);
    await Deno.symlink("busybox", `${rootfs}/bin/sh`);
    await Deno.writeTextFile(`${rootfs}/www/index.html`, "podman-cocoon-page\n");
    // deno-fmt-ignore
    const base = ["--root", `${dir}/storage`, "--runroot", `${dir}/run`, "--tmpdir", `${dir}/tmp`,
      "--cgroup-manager", "cgroupfs", "--events-backend", "file", "--runtime", launcher];
    const podman = async (args: string[]) => {
      const out = await new Deno.Command("podman", {
        args: [...base, ...args],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
        signal: AbortSignal.timeout(300_000),
      }).output();
      const dec = new TextDecoder();
      return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
    };
    try {
      // deno-fmt-ignore
      const run = await podman(["run", "-d", "--name", name, "-p", `${port}:80`, "--ulimit", "nofile=1024:1024",
        "--ulimit", "nproc=1024:1024", "--cap-add", "NET_BIND_SERVICE", "--rootfs", rootfs,
        "/bin/busybox", "httpd", "-f", "-p", "80", "-h", "/www"]);
      assert.equal(run.code, 0, run.stderr);
      assert.equal((await fetchText(`http://127.0.0.1:${port}/`, 60_000)).trim(), "podman-cocoon-page");
      const ip = (await podman(["inspect", name, "--format", "{{.NetworkSettings.IPAddress}}"])).stdout
        .trim();
      assert.match(ip, /^\d+\.\d+\.\d+\.\d+$/);
      assert.equal((await fetchText(`http://${ip}/`, 30_000)).trim(), "podman-cocoon-page");
      assert.equal((await pidsMatching((c) => c.includes("qemu-system") && c.includes(root))).length, 1);
      const rm = await podman(["rm", "-f", "-t", "2", name]);
      assert.equal(rm.code, 0, rm.stderr);
      assert.deepEqual(await pidsMatching((c) => c.includes("qemu-system") && c.includes(root)), []);
      const left = await Array.fromAsync(Deno.readDir(`${root}/sandboxes`)).catch(() => []);
      assert.deepEqual(left, []);
    } finally {
      await podman(["rm", "-f", "-t", "0", name]).catch(() => {});
      for (const pid of await pidsMatching((c) => c.includes(root) || c.includes(dir))) {
        try {
          Deno.kill(pid, "SIGKILL");
        } catch { /* gone */ }
      }
      const mounts = (await Deno.readTextFile("/proc/self/mountinfo")).split("\n")
        .map((l) => l.split(" ")[4] ?? "").filter((m) => m.startsWith(dir) || m.startsWith(root));
      for (const m of mounts.reverse()) await new Deno.Command("umount", { args: ["-l", m] }).output();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      await Deno.remove(root, { recursive: true }).catch(() => {});
    }
  },
});
