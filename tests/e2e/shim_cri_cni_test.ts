/**
 * The Kubernetes path with pod networking on real QEMU: containerd 1.6's CRI plugin makes the pod
 * netns and calls Debian's CNI `bridge` + `host-local` plugins (a private bridge and subnet for this
 * test), the shim hands the netns to the daemon, tcfilter carries eth0 into the microVM, and a
 * busybox httpd in the pod answers the host on the CNI-assigned address (PodSandboxStatus.network.ip).
 * Stop and remove leave no QEMU, and CNI DEL takes the pod's veth away.
 */
import assert from "node:assert/strict";
import { containerConfig, CriClient, pb, startCriContainerd, str, sub } from "../integration/shim_cri.ts";
import {
  killDaemonOf,
  killProcessesUnder,
  pidsMentioning,
  unmountUnder,
  writeShimLauncher,
} from "../integration/shim_harness.ts";
import { buildBusyboxImage } from "../integration/shim_image.ts";
import { guestImage, hostCanBoot, writeConfig } from "./shim_vm_env.ts";

const PAUSE = "docker.io/library/cocoon-pause:latest";
const APP = "docker.io/library/cocoon-busybox:latest";
const CNI_PLUGINS = "/usr/lib/cni";

async function exists(p: string): Promise<boolean> {
  return await Deno.stat(p).then(() => true, () => false);
}

async function cmd(name: string, args: readonly string[], timeoutMs = 10_000) {
  const out = await new Deno.Command(name, {
    args: [...args],
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(timeoutMs),
  }).output();
  const d = new TextDecoder();
  return { code: out.code, stdout: d.decode(out.stdout), stderr: d.decode(out.stderr) };
}

/** PodSandboxConfig for a pod on the pod network (namespace options left at their defaults). */
function cniPodConfig(name: string, uid: string, logDir: string): Uint8Array {
  return pb([
    [1, pb([[1, name], [2, uid], [3, "default"], [4, 0]])], // metadata
    [2, name], // hostname
    [3, logDir], // log_directory
  ]);
}

/** Host-side interfaces whose master is `bridge`. */
async function portsOf(bridge: string): Promise<string[]> {
  const r = await cmd("ip", ["-o", "link", "show", "master", bridge]);
  return r.code === 0 ? r.stdout.split("\n").filter((l) => l.trim() !== "") : [];
}

/** The page at http://<ip>/ from the host netns (Deno's own client), retried while the VM settles. */
async function fetchPage(ip: string): Promise<string> {
  let last = "";
  for (let i = 0; i < 30; i++) {
    try {
      const res = await fetch(`http://${ip}/`, { signal: AbortSignal.timeout(5000) });
      const body = await res.text();
      if (res.ok) return body;
      last = `HTTP ${res.status}`;
    } catch (e) {
      last = String(e);
    }
    await new Promise((res) => setTimeout(res, 1000));
  }
  throw new Error(`Cannot fetch "http://${ip}/": ${last}`);
}

Deno.test({
  name: "CRI pod on the CNI bridge network: the VM takes the CNI address and its httpd answers the host",
  ignore: Deno.env.get("RUNTIME_E2E") !== "1" || !(await hostCanBoot()) ||
    !(await exists(`${CNI_PLUGINS}/bridge`)) ||
    !(await exists(`${CNI_PLUGINS}/host-local`)),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "cshimn-" });
    const daemonDir = `${dir}/d`;
    const tag = crypto.randomUUID().replaceAll("-", "").slice(0, 6);
    const bridge = `cni-cc${tag}`;
    const rnd = crypto.getRandomValues(new Uint8Array(2));
    const subnet = `10.${200 + ((rnd[0] ?? 0) % 50)}.${rnd[1] ?? 0}`;
    // startCriContainerd points CRI at <dir>/cni/{bin,conf}: fill them before it starts.
    await Deno.mkdir(`${dir}/cni/bin`, { recursive: true });
    await Deno.mkdir(`${dir}/cni/conf`, { recursive: true });
    for (const p of ["bridge", "host-local", "loopback", "portmap"]) {
      await Deno.symlink(`${CNI_PLUGINS}/${p}`, `${dir}/cni/bin/${p}`);
    }
    await Deno.writeTextFile(
      `${dir}/cni/conf/10-cocoon.conflist`,
      JSON.stringify({
        cniVersion: "1.0.0",
        name: `cocoon-${tag}`,
        plugins: [{
          type: "bridge",
          bridge,
          isGateway: true,
          ipMasq: false,
          ipam: {
            type: "host-local",
            ranges: [[{ subnet: `${subnet}.0/24` }]],
            routes: [{ dst: "0.0.0.0/0" }],
            dataDir: `${dir}/cni/ipam`,
          },
        }],
      }),
    );
    await Deno.writeTextFile(
      `${dir}/cni/conf/99-loopback.conf`,
      JSON.stringify({ cniVersion: "1.0.0", name: "lo", type: "loopback" }),
    );
    await writeShimLauncher(`${dir}/bin`);
    // The shared config runs host-network pods (model "none"); this pod needs tcfilter.
    const config = await writeConfig(dir, await guestImage());
    const toml = await Deno.readTextFile(config);
    assert.match(toml, /internetworking_model = "none"/);
    await Deno.writeTextFile(
      config,
      toml.replace(/internetworking_model = "none"/, 'internetworking_model = "tcfilter"'),
    );
    const ctrd = await startCriContainerd(dir, PAUSE, {
      PATH: `${dir}/bin:${Deno.env.get("PATH") ?? "/usr/bin:/bin"}`,
      COCOON_DAEMON_DIR: daemonDir,
      COCOON_CONFIG: config,
    });
    const cri = new CriClient(ctrd.grpcAddress);
    let podId = "";
    try {
      for (
        const [name, file, entrypoint] of [[PAUSE, "pause.tar", ["sleep", "inf"]], [
          APP,
          "app.tar",
          undefined,
        ]] as const
      ) {
        const tar = await buildBusyboxImage(dir, name, { file, ...(entrypoint ? { entrypoint } : {}) });
        const imp = await ctrd.ctr(["-n", "k8s.io", "image", "import", tar]);
        assert.equal(imp.code, 0, imp.stderr);
      }
      const pod = cniPodConfig("web", `uid-${tag}`, `${dir}/logs`);
      podId = str(await cri.call("RunPodSandbox", pb([[1, pod], [2, "cocoon"]])), 1);
      const ip = str(sub(sub(await cri.call("PodSandboxStatus", pb([[1, podId]])), 1), 5), 1);
      assert.match(ip, new RegExp(`^${subnet.replaceAll(".", "\\.")}\\.\\d+$`), "the pod has a CNI address");
      assert.equal((await portsOf(bridge)).length, 1, "CNI plugged one veth into the bridge");
      const cfg = containerConfig("web", APP, [
        "sh",
        "-c",
        "mkdir -p /www && echo hello-cni > /www/index.html && exec httpd -f -p 80 -h /www",
      ], "web.log");
      const id = str(await cri.call("CreateContainer", pb([[1, podId], [2, cfg], [3, pod]])), 1);
      await cri.call("StartContainer", pb([[1, id]]));
      assert.equal((await pidsMentioning(dir, "qemu-system")).length, 1, "one QEMU process for the pod");

      assert.equal((await fetchPage(ip)).trim(), "hello-cni");

      await cri.call("StopPodSandbox", pb([[1, podId]]));
      await cri.call("RemovePodSandbox", pb([[1, podId]]));
      podId = "";
      for (let i = 0; i < 100 && (await pidsMentioning(dir, "qemu-system")).length > 0; i++) {
        await new Promise((r) => setTimeout(r, 200));
      }
      assert.deepEqual(await pidsMentioning(dir, "qemu-system"), [], "the pod's VM is gone");
      assert.deepEqual(await portsOf(bridge), [], "CNI DEL removed the pod's veth");
    } catch (e) {
      // deno-lint-ignore no-console
      console.error(
        `--- containerd ---\n${(await Deno.readTextFile(ctrd.logPath).catch(() => "")).slice(-3000)}\n` +
          `--- daemon ---\n${
            (await Deno.readTextFile(`${daemonDir}/daemon.log`).catch(() => "")).slice(-3000)
          }`,
      );
      throw e;
    } finally {
      if (podId !== "") {
        await cri.call("StopPodSandbox", pb([[1, podId]]), 60_000).catch(() => {});
        await cri.call("RemovePodSandbox", pb([[1, podId]]), 60_000).catch(() => {});
      }
      cri.close();
      await ctrd.stop();
      await killDaemonOf(daemonDir);
      await killProcessesUnder(dir);
      await unmountUnder(dir);
      await cmd("ip", ["link", "del", bridge]).catch(() => {});
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
