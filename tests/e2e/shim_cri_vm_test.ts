/**
 * The Kubernetes path on real QEMU: containerd 1.6's CRI plugin (handler `cocoon`) → the shim →
 * the detached daemon → one microVM per pod. A host-network pod (locally imported pause image) with
 * two containers: RunPodSandbox, CreateContainer, StartContainer, ExecSync, ContainerStatus,
 * StopPodSandbox, RemovePodSandbox; one QEMU process for the whole pod, none afterwards.
 */
import assert from "node:assert/strict";
import {
  containerConfig,
  CriClient,
  num,
  pb,
  podConfig,
  startCriContainerd,
  str,
  sub,
} from "../integration/shim_cri.ts";
import {
  killDaemonOf,
  killProcessesUnder,
  pidsMentioning,
  unmountUnder,
  writeShimLauncher,
} from "../integration/shim_harness.ts";
import { buildBusyboxImage } from "../integration/shim_image.ts";
import { guestImage, hostCanBoot, pssKiB, writeConfig } from "./shim_vm_env.ts";

const PAUSE = "docker.io/library/cocoon-pause:latest";
const APP = "docker.io/library/cocoon-busybox:latest";

Deno.test({
  name:
    "CRI pod on real QEMU: pause + 2 containers in one VM, ExecSync, ContainerStatus, stop and remove leave nothing",
  ignore: !(await hostCanBoot()),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "cshimv-" });
    const daemonDir = `${dir}/d`;
    await writeShimLauncher(`${dir}/bin`);
    const config = await writeConfig(dir, await guestImage());
    const ctrd = await startCriContainerd(dir, PAUSE, {
      PATH: `${dir}/bin:${Deno.env.get("PATH") ?? "/usr/bin:/bin"}`,
      COCOON_DAEMON_DIR: daemonDir,
      COCOON_CONFIG: config,
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
      const t0 = performance.now();
      const podId = str(await cri.call("RunPodSandbox", pb([[1, pod], [2, "cocoon"]])), 1);
      const podMs = Math.round(performance.now() - t0);
      const ids: string[] = [];
      for (const name of ["app", "sidecar"]) {
        const cfg = containerConfig(name, APP, ["sleep", "600"], `${name}.log`);
        const id = str(await cri.call("CreateContainer", pb([[1, podId], [2, cfg], [3, pod]])), 1);
        await cri.call("StartContainer", pb([[1, id]]));
        ids.push(id);
      }
      const qemu = await pidsMentioning(dir, "qemu-system");
      assert.equal(qemu.length, 1, "one QEMU process for the pod");
      const [app, sidecar] = ids as [string, string];
      const ex = await cri.call("ExecSync", pb([[1, app], [2, "echo"], [2, "exec-ok"], [3, 60]]));
      assert.equal(new TextDecoder().decode(ex.get(1)?.[0] as Uint8Array), "exec-ok\n");
      const ex7 = await cri.call(
        "ExecSync",
        pb([[1, sidecar], [2, "sh"], [2, "-c"], [2, "exit 7"], [3, 60]]),
      );
      assert.equal(num(ex7, 3), 7);
      const st = sub(await cri.call("ContainerStatus", pb([[1, app]])), 1);
      assert.equal(num(st, 3), 1, "CONTAINER_RUNNING");
      const pss = { qemuKiB: await pssKiB(qemu[0] ?? 0) };

      await cri.call("StopPodSandbox", pb([[1, podId]]));
      assert.equal(num(sub(await cri.call("ContainerStatus", pb([[1, app]])), 1), 3), 2, "CONTAINER_EXITED");
      await cri.call("RemovePodSandbox", pb([[1, podId]]));
      for (let i = 0; i < 100 && (await pidsMentioning(dir, "qemu-system")).length > 0; i++) {
        await new Promise((r) => setTimeout(r, 200));
      }
      assert.deepEqual(await pidsMentioning(dir, "qemu-system"), [], "the pod's VM is gone");
      // deno-lint-ignore no-console
      console.log(`CRI RunPodSandbox (VM boot, TCG): ${podMs} ms; pod PSS ${JSON.stringify(pss)}`);
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
      cri.close();
      await ctrd.stop();
      await killDaemonOf(daemonDir);
      await killProcessesUnder(dir);
      await unmountUnder(dir);
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
