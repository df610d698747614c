/**
 * The real agent in a real VM: boots the guest image (built by runtime/guest, cached) with the QEMU
 * plugin under TCG, connects the host AgentClient to the virtio-serial agent socket, and runs busybox
 * containers in the guest with crun. Skipped unless RUNTIME_E2E=1 (or COCOON_E2E=1) and QEMU exists.
 */
// deno-lint-ignore-file no-console -- the test reports boot and container timings
import assert from "node:assert/strict";
import { defaultSpec } from "../../agent/testing/default_spec.ts";
import qemuPlugin from "../../plugins/hypervisor/qemu/mod.ts";
import type { Vm } from "../../plugins/types.ts";
import { AgentClient } from "../../runtime/agent_client/client.ts";
import { containerId, deviceId, execId, sandboxId } from "../../runtime/ids.ts";
import { createLogger, nullSink } from "../../runtime/log/logger.ts";
import { ensureGuestImage } from "../utils/guest.ts";

const enabled = (Deno.env.get("RUNTIME_E2E") === "1" || Deno.env.get("COCOON_E2E") === "1") &&
  (() => {
    try {
      return Deno.statSync("/usr/bin/qemu-system-x86_64").isFile;
    } catch {
      return false;
    }
  })();

const dec = new TextDecoder();
const enc = new TextEncoder();
const APPLETS = ["sh", "echo", "cat", "sleep", "true", "false", "kill", "id", "unshare", "stty", "tty", "ls"];

/** Copies busybox and its applet links into the guest with CopyFile. */
async function pushRootfs(agent: AgentClient, root: string): Promise<void> {
  await agent.copyFile(`${root}/bin/busybox`, await Deno.readFile("/bin/busybox"), { mode: 0o755 });
  for (const a of APPLETS) {
    await agent.copyFile(`${root}/bin/${a}`, new Uint8Array(0), { symlinkTarget: "busybox" });
  }
  for (const d of ["proc", "dev", "sys", "tmp"]) {
    await agent.copyFile(`${root}/${d}/.keep`, new Uint8Array(0));
  }
}

Deno.test({
  name: "agent in a QEMU guest: health, details, busybox exit 0/7/137, exec with TTY, clean shutdown",
  ignore: !enabled,
  async fn() {
    const log = createLogger({ sink: nullSink });
    const image = await ensureGuestImage({ agent: "real" });
    const hv = await qemuPlugin.create({ log, config: { accelerator: "tcg" }, runDir: "/tmp" });
    const stateDir = await Deno.makeTempDir({ prefix: "cocoon-agent-e2e-" });
    let vm: Vm | undefined;
    let agent: AgentClient | undefined;
    try {
      vm = await hv.createVm({
        id: sandboxId("agent-e2e"),
        stateDir,
        kernel: image.kernel,
        initrd: image.initrd,
        kernelParams: [image.manifest.cmdline],
        vcpus: 2,
        maxVcpus: 2,
        memoryMiB: 512,
        maxMemoryMiB: 512,
        devices: image.rootfs
          ? [{
            kind: "block",
            id: deviceId("userland"),
            path: image.rootfs,
            readOnly: true,
            driver: "virtio-blk",
          }]
          : [],
        accelerator: "tcg",
        agentChannel: "virtio-serial",
        consoleLog: `${stateDir}/console.log`,
      });
      const t0 = performance.now();
      await vm.start();
      agent = await AgentClient.connect(vm.agentAddress(), { timeoutMs: 120_000, log });
      const readyMs = performance.now() - t0;
      const step = (s: string) => console.log(`step: ${s} at ${Math.round(performance.now() - t0)} ms`);
      step("connected");
      assert.equal(await agent.check(), true);
      const version = await agent.version();
      assert.equal(version.protocolVersion, 1);
      assert.match(version.kernelRelease, /^\d+\.\d+/);
      const details = await agent.guestDetails();
      assert.equal(details.onlineCpus, 2);
      assert.ok(details.totalMemoryBytes > 256n << 20n);

      const lo = (await agent.listInterfaces()).find((i) => i.name === "lo");
      assert.ok(lo && lo.up && lo.addresses.some((a) => a.address === "127.0.0.1"), JSON.stringify(lo));
      const lo2 = await agent.updateInterface({
        name: "lo",
        mac: "",
        mtu: 16384,
        up: true,
        addresses: [{ family: 4, address: "127.0.0.1", prefix: 8 }, {
          family: 4,
          address: "10.98.0.1",
          prefix: 32,
        }],
      });
      assert.equal(lo2.mtu, 16384);
      assert.ok(lo2.addresses.some((a) => a.address === "10.98.0.1" && a.prefix === 32), JSON.stringify(lo2));
      const routes = await agent.updateRoutes([{
        destination: "10.99.0.0/16",
        device: "lo",
        scope: 253,
        family: 4,
      }]);
      assert.ok(
        routes.some((r) => r.destination === "10.99.0.0/16" && r.device === "lo"),
        JSON.stringify(routes),
      );
      step("details");
      const root = "/run/cocoon/e2e-rootfs";
      await pushRootfs(agent, root);
      const run = async (name: string, args: string[]) => {
        const id = containerId(name);
        await agent!.createContainer({ id, spec: defaultSpec({ args, rootfs: root }) });
        await agent!.startContainer(id);
        return id;
      };
      step("rootfs pushed");
      const t1 = performance.now();
      const ok = await run("e2e-ok", ["sh", "-c", "echo hello from the guest"]);
      let out = "";
      for await (const c of agent.output({ containerId: ok })) out += dec.decode(c);
      assert.equal(out, "hello from the guest\n");
      assert.equal((await agent.waitProcess({ containerId: ok })).exitStatus, 0);
      const containerMs = performance.now() - t1;
      await agent.removeContainer(ok);

      step("exit 0");
      const seven = await run("e2e-seven", ["sh", "-c", "exit 7"]);
      assert.equal((await agent.waitProcess({ containerId: seven })).exitStatus, 7);
      await agent.removeContainer(seven);

      step("exit 7");
      const long = await run("e2e-long", ["sleep", "1000"]);
      const tty = execId("tty");
      await agent.execProcess({
        containerId: long,
        execId: tty,
        process: { args: ["sh"], cwd: "/", env: ["PATH=/bin", "TERM=xterm"], user: { uid: 0, gid: 0 } },
        stdio: { terminal: true, window: { rows: 33, columns: 77 } },
      });
      await agent.writeStdin(
        { containerId: long, execId: tty },
        enc.encode("tty; stty size; unshare -U id -u; exit 5\n"),
      );
      let text = "";
      for await (const c of agent.output({ containerId: long, execId: tty })) text += dec.decode(c);
      assert.match(text, /\/dev\/pts\/\d+/);
      assert.match(text, /33 77/);
      assert.match(text, /65534/);
      assert.equal((await agent.waitProcess({ containerId: long, execId: tty })).exitStatus, 5);
      step("tty exec");
      await agent.pauseContainer(long);
      await agent.resumeContainer(long);
      const stats = await agent.statsContainer(long);
      assert.ok(
        stats.cpu && stats.cpu.usageNs > 0n,
        `cpu stats in the guest: ${JSON.stringify(stats, (_k, v) => typeof v === "bigint" ? String(v) : v)}`,
      );
      console.log(
        `guest stats: memory ${stats.memory ? String(stats.memory.usageBytes) : "n/a"} bytes, pids ${
          stats.pids ? String(stats.pids.current) : "n/a"
        }`,
      );
      step("pause, resume, stats");
      await agent.signalProcess({ containerId: long }, 9);
      assert.equal((await agent.waitProcess({ containerId: long })).exitStatus, 137);
      await agent.removeContainer(long);

      console.log(
        `timings: start->agent ready ${Math.round(readyMs)} ms, create+start+exit ${
          Math.round(containerMs)
        } ms`,
      );
      // The host may go away and come back (daemon restart): the agent serves the new connection.
      agent.close();
      agent = await AgentClient.connect(vm.agentAddress(), { timeoutMs: 60_000, log });
      assert.equal((await agent.version()).agentVersion, version.agentVersion);
      step("reconnected");

      // Clean shutdown: DestroySandbox makes the agent exit and the guest power itself off.
      await agent.destroySandbox("agent-e2e");
      agent.close();
      agent = undefined;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const exit = await Promise.race([
        vm.wait(),
        new Promise<"timeout">((r) => (timer = setTimeout(() => r("timeout"), 60_000))),
      ]);
      clearTimeout(timer);
      assert.deepEqual(exit, { kind: "shutdown" });
    } catch (e) {
      const consoleText = await Deno.readTextFile(`${stateDir}/console.log`).catch(() => "");
      console.log(consoleText.slice(-4000));
      throw e;
    } finally {
      agent?.close();
      if (vm) await vm[Symbol.asyncDispose]();
      await Deno.remove(stateDir, { recursive: true });
    }
  },
});
