import assert from "node:assert/strict";
import { HypervisorError } from "../../../runtime/errors.ts";
import { createLogger } from "../../../runtime/log/logger.ts";
import { deviceId } from "../../../runtime/ids.ts";
import { detectAccelerator } from "./detect.ts";
import { GUEST_MARKER } from "./_test_guest.ts";
import { pidAlive } from "./_process.ts";
import {
  blockDevice,
  leftovers,
  TEST_PERMISSIONS,
  testHypervisor,
  testVmConfig,
  waitForText,
} from "./_test_util.ts";
import type { QemuVm } from "./qemu.ts";

/** Timings go to stderr as JSON lines (the figures this plugin reports). */
const timings = createLogger({ fields: { subsystem: "qemu-test" } });

async function agentEcho(path: string, line: string): Promise<string> {
  using conn = await Deno.connect({ transport: "unix", path });
  await conn.write(new TextEncoder().encode(line + "\n"));
  const buf = new Uint8Array(256);
  let text = "";
  const deadline = Date.now() + 20_000;
  while (!text.includes("\n") && Date.now() < deadline) {
    const n = await conn.read(buf);
    if (n === null) break;
    text += new TextDecoder().decode(buf.subarray(0, n));
  }
  return text.trim();
}

Deno.test({
  name: "QemuVm.start() boots the guest under TCG; pause, resume, agent port and ACPI stop work",
  permissions: TEST_PERMISSIONS,
  async fn() {
    const cfg = await testVmConfig("qemu-life");
    const vm = await testHypervisor().createVm(cfg);
    try {
      const t0 = performance.now();
      await vm.start();
      const qmpMs = performance.now() - t0;
      const markerMs = qmpMs + (await waitForText(cfg.consoleLog, GUEST_MARKER));
      timings.info("boot", { qmpReadyMs: Math.round(qmpMs), markerMs: Math.round(markerMs) });
      const [pid] = vm.pids();
      assert.ok(pid !== undefined && (await pidAlive(pid)));
      const qmp = (vm as QemuVm).qmp;
      assert.ok(qmp);
      assert.deepEqual(await qmp.execute("query-status"), {
        status: "running",
        singlestep: false,
        running: true,
      });

      await vm.pause();
      const paused = await qmp.execute("query-status");
      assert.ok(
        typeof paused === "object" && paused !== null && "status" in paused && paused.status === "paused",
      );
      await vm.resume();
      assert.deepEqual(await qmp.execute("query-status"), {
        status: "running",
        singlestep: false,
        running: true,
      });

      assert.deepEqual(vm.agentAddress(), { kind: "unix", path: `${cfg.stateDir}/agent.sock` });
      assert.equal(await agentEcho(`${cfg.stateDir}/agent.sock`, "hello-agent"), "ECHO:hello-agent");

      const t1 = performance.now();
      await vm.stop({ timeoutMs: 20_000 });
      timings.info("graceful stop", { ms: Math.round(performance.now() - t1) });
      assert.deepEqual(await vm.wait(), { kind: "shutdown" });
      assert.ok(!(await pidAlive(pid)));
      assert.deepEqual(vm.pids(), []);
      assert.deepEqual(await leftovers(cfg.stateDir), []);
      await vm.stop(); // idempotent
    } finally {
      await vm[Symbol.asyncDispose]();
      await Deno.remove(cfg.stateDir, { recursive: true });
    }
  },
});

Deno.test({
  name: "QemuVm.addDevice() hotplugs a block device the guest sees, and removeDevice() takes it away",
  permissions: TEST_PERMISSIONS,
  async fn() {
    const cfg = await testVmConfig("qemu-hotplug");
    const img = `${cfg.stateDir}/disk.img`;
    await Deno.writeFile(img, new Uint8Array(8 * 1024 * 1024));
    const vm = await testHypervisor().createVm(cfg);
    try {
      await vm.start();
      await waitForText(cfg.consoleLog, GUEST_MARKER);
      const from = (await Deno.readTextFile(cfg.consoleLog)).length;
      const att = await vm.addDevice(blockDevice("disk1", img));
      assert.match(att.guestAddress ?? "", /^0000:[0-9a-f]{2}:00\.0$/);
      await waitForText(cfg.consoleLog, /BLOCKS: vda/, 30_000, from);
      // QEMU runs as a uid of its own: the host opened the image and passed it (fd_pass.ts)
      const blocks = JSON.stringify(await (vm as QemuVm).qmp?.execute("query-block"));
      assert.ok(blocks.includes("/dev/fdset/"), blocks);
      assert.equal((await (vm as QemuVm).qmp?.execute("query-fdsets") as unknown[]).length, 1);

      const from2 = (await Deno.readTextFile(cfg.consoleLog)).length;
      await vm.removeDevice(att);
      await waitForText(cfg.consoleLog, /BLOCKS: \r?\n/, 30_000, from2);
      assert.ok(!JSON.stringify(await (vm as QemuVm).qmp?.execute("query-block")).includes("/dev/fdset/"));
      assert.deepEqual(await (vm as QemuVm).qmp?.execute("query-fdsets"), []);

      await vm.stop({ force: true });
      const exit = await vm.wait();
      assert.equal(exit.kind, "killed");
      assert.deepEqual(await leftovers(cfg.stateDir), []);
    } finally {
      await vm[Symbol.asyncDispose]();
      await Deno.remove(cfg.stateDir, { recursive: true });
    }
  },
});

Deno.test({
  name: "QemuVm.start() fails with QEMU's error and leaves nothing running when QEMU refuses the config",
  permissions: TEST_PERMISSIONS,
  async fn() {
    const cfg = { ...(await testVmConfig("qemu-bad")), kernel: "/nonexistent/vmlinuz" };
    const vm = await testHypervisor().createVm(cfg);
    try {
      await assert.rejects(vm.start(), (e: unknown) => {
        assert.ok(e instanceof HypervisorError);
        assert.match(
          e.message,
          /^Cannot start VM "qemu-bad": qemu exited with code 1: stderr: .*nonexistent/,
        );
        return true;
      });
      assert.deepEqual(vm.pids(), []);
      assert.deepEqual(await leftovers(cfg.stateDir), []);
    } finally {
      await vm[Symbol.asyncDispose]();
      await Deno.remove(cfg.stateDir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "QemuVm.start() cold-plugs 9p, virtio-scsi and read-only virtio-blk devices with the auto accelerator",
  permissions: TEST_PERMISSIONS,
  async fn() {
    const base = await testVmConfig("qemu-cold");
    const img = `${base.stateDir}/ro.img`;
    const img2 = `${base.stateDir}/scsi.img`;
    await Deno.writeFile(img, new Uint8Array(4 * 1024 * 1024));
    await Deno.writeFile(img2, new Uint8Array(4 * 1024 * 1024));
    const cfg = {
      ...base,
      accelerator: "auto" as const,
      devices: [
        { ...blockDevice("ro", img), readOnly: true },
        { ...blockDevice("sc", img2), driver: "virtio-scsi" as const },
        {
          kind: "share-fs" as const,
          id: deviceId("share"),
          tag: "share0",
          source: base.stateDir,
          transport: "9p" as const,
        },
      ],
    };
    const vm = await testHypervisor({ accelerator: "auto" }).createVm(cfg);
    try {
      await vm.start();
      const qmp = (vm as QemuVm).qmp;
      assert.ok(qmp);
      const pci = JSON.stringify(await qmp.execute("query-pci"));
      for (const id of ["dev-ro", "scsi0", "dev-share", "vserial0", "rng-dev0", "hp0"]) {
        assert.ok(pci.includes(`"${id}"`), id);
      }
      const blocks = await qmp.execute("query-block");
      assert.ok(Array.isArray(blocks));
      const ro = blocks.find((b) => JSON.stringify(b).includes(img));
      assert.ok(JSON.stringify(ro).includes(`"ro":true`));
      await waitForText(cfg.consoleLog, /BLOCKS: vda/);
      assert.equal(vm.saveState().extra?.["accel"], (await detectAccelerator()).accel);
    } finally {
      await vm[Symbol.asyncDispose]();
      assert.deepEqual(vm.pids(), []);
      assert.deepEqual(await leftovers(cfg.stateDir), []);
      await Deno.remove(cfg.stateDir, { recursive: true });
    }
  },
});

Deno.test({
  name: "QemuVm.stop() falls back to QMP quit when the guest ignores the ACPI power button",
  permissions: TEST_PERMISSIONS,
  async fn() {
    const cfg = await testVmConfig("qemu-noacpi");
    const vm = await testHypervisor().createVm(cfg);
    try {
      await vm.start();
      // right after start the guest kernel is not up yet, so nothing handles the power button
      const t0 = performance.now();
      await vm.stop({ timeoutMs: 1 });
      assert.ok(performance.now() - t0 < 10_000);
      assert.deepEqual(await vm.wait(), { kind: "killed" });
      assert.deepEqual(await leftovers(cfg.stateDir), []);
    } finally {
      await vm[Symbol.asyncDispose]();
      await Deno.remove(cfg.stateDir, { recursive: true });
    }
  },
});
