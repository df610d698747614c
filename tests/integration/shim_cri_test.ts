/**
 * Kubernetes' path: containerd 1.6's CRI plugin with the runtime handler `cocoon`, driven by a small
 * CRI client over containerd's gRPC socket: a host-network pod (pause image imported locally) with
 * two containers, ExecSync, ContainerStatus, StopPodSandbox, RemovePodSandbox. The daemon is
 * embedded on the in-memory sandbox: every container of the pod lands in one (fake) VM.
 */
import assert from "node:assert/strict";
import { RecordingShare } from "./sandbox_fakes.ts";
import { FakeHost } from "./sandbox_fakes.ts";
import type { LogSink } from "../../runtime/log/logger.ts";
import { killDaemonOf, startEmbeddedDaemon, unmountUnder, writeShimLauncher } from "./shim_harness.ts";
import { buildBusyboxImage } from "./shim_image.ts";
import { podSandboxId } from "../../runtime/shim/address.ts";
import { containerConfig, CriClient, num, pb, podConfig, startCriContainerd, str, sub } from "./shim_cri.ts";

const PAUSE = "docker.io/library/cocoon-pause:latest";
const APP = "docker.io/library/cocoon-busybox:latest";

const canRun = Deno.uid() === 0 &&
  (await new Deno.Command("sh", { args: ["-c", "command -v containerd && command -v ctr"], stdout: "null" })
      .output()
      .catch(() => null))?.success === true;

Deno.test({
  name:
    "CRI pod with runtime handler cocoon: RunPodSandbox, 2 containers in one VM, ExecSync, status, stop, remove",
  ignore: !canRun,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "cshimc-" });
    const daemonDir = `${dir}/d`;
    const logs: string[] = [];
    const sink: LogSink = { write: (l) => void logs.push(l) };
    const host = new FakeHost();
    const daemon = await startEmbeddedDaemon(dir, daemonDir, { host, share: new RecordingShare(), sink });
    await writeShimLauncher(`${dir}/bin`);
    const ctrd = await startCriContainerd(dir, PAUSE, {
      PATH: `${dir}/bin:${Deno.env.get("PATH") ?? "/usr/bin:/bin"}`,
      COCOON_DAEMON_DIR: daemonDir,
    });
    const cri = new CriClient(ctrd.grpcAddress);
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
      const pod = podConfig("web", "uid-1", `${dir}/logs`);
      const run = await cri.call("RunPodSandbox", pb([[1, pod], [2, "cocoon"]]));
      const podId = str(run, 1);
      assert.match(podId, /^[0-9a-f]{64}$/);
      assert.deepEqual(
        [...host.running.keys()],
        [podSandboxId("k8s.io", podId)],
        "one VM named after the CRI sandbox id",
      );

      const ids: string[] = [];
      for (const name of ["app", "sidecar"]) {
        const cfg = containerConfig(name, APP, ["sleep", "600"], `${name}.log`);
        const c = await cri.call("CreateContainer", pb([[1, podId], [2, cfg], [3, pod]]));
        const id = str(c, 1);
        await cri.call("StartContainer", pb([[1, id]]));
        ids.push(id);
      }
      assert.equal(host.running.size, 1, "both containers joined the pod's VM");
      const [app, sidecar] = ids as [string, string];

      const ex = await cri.call("ExecSync", pb([[1, app], [2, "echo"], [2, "exec-ok"], [3, 30]]));
      assert.equal(new TextDecoder().decode(ex.get(1)?.[0] as Uint8Array), "exec-ok\n");
      assert.equal(num(ex, 3), 0);
      const ex7 = await cri.call(
        "ExecSync",
        pb([[1, sidecar], [2, "sh"], [2, "-c"], [2, "exit 7"], [3, 30]]),
      );
      assert.equal(num(ex7, 3), 7);

      const st = sub(await cri.call("ContainerStatus", pb([[1, app]])), 1);
      assert.equal(str(st, 1), app);
      assert.equal(num(st, 3), 1, "CONTAINER_RUNNING");

      await cri.call("StopPodSandbox", pb([[1, podId]]));
      const stopped = sub(await cri.call("ContainerStatus", pb([[1, app]])), 1);
      assert.equal(num(stopped, 3), 2, "CONTAINER_EXITED");
      await cri.call("RemovePodSandbox", pb([[1, podId]]));
      for (let i = 0; i < 50 && host.running.size > 0; i++) await new Promise((r) => setTimeout(r, 100));
      assert.equal(host.running.size, 0, "the VM went with the pod");
      assert.equal(daemon.tasks.size, 0);
    } catch (e) {
      // deno-lint-ignore no-console
      console.error(
        `--- containerd ---\n${(await Deno.readTextFile(ctrd.logPath).catch(() => "")).slice(-4000)}\n` +
          `--- daemon ---\n${logs.slice(-30).join("")}`,
      );
      throw e;
    } finally {
      cri.close();
      await ctrd.stop();
      await daemon.close({ deletePods: true });
      await killDaemonOf(daemonDir);
      await unmountUnder(dir);
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
