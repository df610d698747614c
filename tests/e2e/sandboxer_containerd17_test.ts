/**
 * containerd 1.7.24 (Debian 13, private install) with its experimental CRI sandbox server
 * (`ENABLE_CRI_SANDBOXES=1`) and runtime `cocoon` in `sandbox_mode = "shim"`: RunPodSandbox makes
 * containerd start the shim binary for the pod and call the shim-side Sandbox service
 * (`containerd.runtime.sandbox.v1.Sandbox`: CreateSandbox, StartSandbox, then WaitSandbox in the
 * background) on the daemon's socket; the pod's VM boots; CreateContainer/StartContainer go to the
 * same socket through the Task API and join that VM; ExecSync, ContainerStatus, PodSandboxStatus;
 * StopPodSandbox (StopSandbox, Wait returns), RemovePodSandbox (ShutdownSandbox). One QEMU for the
 * pod; afterwards no QEMU, the daemon exits by itself, nothing is left mounted.
 *
 * Skipped unless RUNTIME_E2E=1 (or COCOON_E2E=1) and the host can boot guests.
 */
import assert from "node:assert/strict";
import { containerConfig, CriClient, num, pb, podConfig, str, sub } from "../integration/shim_cri.ts";
import {
  killDaemonOf,
  killProcessesUnder,
  pidsMentioning,
  unmountUnder,
  writeShimLauncher,
} from "../integration/shim_harness.ts";
import { buildBusyboxImage } from "../integration/shim_image.ts";
import { guestImage, hostCanBoot, writeConfig } from "./shim_vm_env.ts";
import { installContainerd17, startContainerd17 } from "../utils/containerd17.ts";

const enabled = (Deno.env.get("RUNTIME_E2E") === "1" || Deno.env.get("COCOON_E2E") === "1") &&
  await hostCanBoot();

const PAUSE = "docker.io/library/cocoon-pause:latest";
const APP = "docker.io/library/cocoon-busybox:latest";
/** CRI's PodSandboxState. */
const SANDBOX_READY = 0;
const SANDBOX_NOTREADY = 1;

async function gone(pid: number, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end;) {
    if (!(await Deno.stat(`/proc/${pid}`).then(() => true, () => false))) return true;
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}

Deno.test({
  name: "containerd 1.7 CRI sandbox server runs a pod through the shim's Sandbox service into one VM",
  ignore: !enabled,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const bin = await installContainerd17();
    const dir = await Deno.makeTempDir({ prefix: "csb17-" });
    const daemonDir = `${dir}/d`;
    await writeShimLauncher(`${dir}/bin`);
    const config = await writeConfig(dir, await guestImage());
    const ctrd = await startContainerd17(dir, {
      bin,
      pauseImage: PAUSE,
      env: {
        PATH: `${dir}/bin:${Deno.env.get("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin"}`,
        COCOON_DAEMON_DIR: daemonDir,
        COCOON_CONFIG: config,
      },
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
      const pod = podConfig("web17", "uid-17", `${dir}/logs`);
      const t0 = performance.now();
      const podId = str(await cri.call("RunPodSandbox", pb([[1, pod], [2, "cocoon"]])), 1);
      const podMs = Math.round(performance.now() - t0);
      assert.match(podId, /^[0-9a-f]{64}$/);
      const qemu = await pidsMentioning(dir, "qemu-system");
      assert.equal(qemu.length, 1, "StartSandbox booted the pod's VM");
      const log = await ctrd.log();
      assert.doesNotMatch(log, /level=error.*failed to (create|start) sandbox/);

      const podSt = sub(await cri.call("PodSandboxStatus", pb([[1, podId]])), 1);
      assert.equal(str(podSt, 1), podId);
      assert.equal(num(podSt, 3), SANDBOX_READY);

      const cfg = containerConfig("app", APP, ["sleep", "600"], "app.log");
      const id = str(await cri.call("CreateContainer", pb([[1, podId], [2, cfg], [3, pod]])), 1);
      await cri.call("StartContainer", pb([[1, id]]));
      assert.deepEqual(await pidsMentioning(dir, "qemu-system"), qemu, "the container joined the pod's VM");
      const ex = await cri.call(
        "ExecSync",
        pb([[1, id], [2, "sh"], [2, "-c"], [2, "echo exec-ok; exit 3"], [3, 60]]),
      );
      const stdout = ex.get(1)?.[0];
      assert.equal(
        new TextDecoder().decode(stdout instanceof Uint8Array ? stdout : new Uint8Array()),
        "exec-ok\n",
      );
      assert.equal(num(ex, 3), 3);
      const st = sub(await cri.call("ContainerStatus", pb([[1, id]])), 1);
      assert.equal(num(st, 3), 1, "CONTAINER_RUNNING");

      await cri.call("StopPodSandbox", pb([[1, podId]]));
      assert.equal(num(sub(await cri.call("ContainerStatus", pb([[1, id]])), 1), 3), 2, "CONTAINER_EXITED");
      // WaitSandbox returned (the VM stopped): the CRI exit monitor marks the pod not ready.
      let state = SANDBOX_READY;
      for (let i = 0; i < 100 && state !== SANDBOX_NOTREADY; i++) {
        state = num(sub(await cri.call("PodSandboxStatus", pb([[1, podId]])), 1), 3);
        if (state !== SANDBOX_NOTREADY) await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(state, SANDBOX_NOTREADY);
      assert.ok(await gone(qemu[0] ?? 0, 20_000), "StopSandbox stopped the VM");

      await cri.call("RemovePodSandbox", pb([[1, podId]]));
      const daemonPid = Number((await Deno.readTextFile(`${daemonDir}/daemon.pid`).catch(() => "0")).trim());
      assert.ok(
        daemonPid > 0 ? await gone(daemonPid, 20_000) : true,
        "the daemon exits once the pod is gone",
      );
      assert.deepEqual(await pidsMentioning(dir, "qemu-system"), []);
      // deno-lint-ignore no-console
      console.log(
        `containerd ${bin.version} CRI RunPodSandbox via shim Sandbox API (VM boot, TCG): ${podMs} ms`,
      );
    } catch (e) {
      // deno-lint-ignore no-console
      console.error(
        `--- containerd ---\n${(await ctrd.log().catch(() => "")).slice(-4000)}\n--- daemon ---\n${
          (await Deno.readTextFile(`${daemonDir}/daemon.log`).catch(() => "")).slice(-4000)
        }`,
      );
      throw e;
    } finally {
      cri.close();
      await ctrd.stop();
      await killDaemonOf(daemonDir);
      await killProcessesUnder(dir);
      await unmountUnder(dir);
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
