import assert from "node:assert/strict";
import { HypervisorError } from "../../../runtime/errors.ts";
import { deviceId, sandboxId } from "../../../runtime/ids.ts";
import { createLogger, nullSink } from "../../../runtime/log/logger.ts";
import type { VmConfig } from "../../types.ts";
import plugin, { MockHypervisor, type MockVm } from "./mod.ts";

const config: VmConfig = {
  id: sandboxId("sb-1"),
  stateDir: "/run/cocoon/sb-1",
  kernel: "/k",
  kernelParams: [],
  vcpus: 1,
  maxVcpus: 4,
  memoryMiB: 256,
  maxMemoryMiB: 1024,
  devices: [],
  accelerator: "auto",
  agentChannel: "virtio-serial",
  consoleLog: "/run/cocoon/sb-1/console.log",
};

Deno.test({
  name: "MockVm follows created -> running <-> paused -> stopped and records calls",
  permissions: "none",
  async fn() {
    const hv = new MockHypervisor();
    const vm = await hv.createVm(config);
    await assert.rejects(
      vm.pause(),
      (e: unknown) => e instanceof HypervisorError && e.code === "FailedPrecondition",
    );
    await vm.start();
    assert.equal(vm.pids().length, 1);
    await vm.pause();
    assert.equal((vm as MockVm).status, "paused");
    await vm.resume();
    const att = await vm.addDevice({
      kind: "block",
      id: deviceId("d1"),
      path: "/x",
      readOnly: true,
      driver: "virtio-blk",
    });
    assert.equal(att.guestAddress, "0000:01:00.0");
    assert.deepEqual(await vm.resizeVcpus(3), { before: 1, after: 3 });
    await vm.removeDevice(att);
    const exit = vm.wait();
    await vm.stop();
    assert.deepEqual(await exit, { kind: "shutdown" });
    assert.deepEqual(vm.pids(), []);
    assert.deepEqual(hv.calls.map((c) => c.method), [
      "createVm",
      "pause",
      "start",
      "pause",
      "resume",
      "addDevice",
      "resizeVcpus",
      "removeDevice",
      "wait",
      "stop",
    ]);
  },
});

Deno.test({
  name: "MockHypervisor.failNext() makes the next call throw the injected error",
  permissions: "none",
  async fn() {
    const hv = new MockHypervisor();
    hv.failNext("start", new HypervisorError("Internal", "boom"));
    const vm = await hv.createVm(config);
    await assert.rejects(vm.start(), /boom/);
    await vm.start();
    assert.equal(hv.callsOf("start").length, 2);
  },
});

Deno.test({
  name: "MockHypervisor.attachVm() returns the live VM for its state and refuses a stopped one",
  permissions: "none",
  async fn() {
    const hv = await plugin.create({ log: createLogger({ sink: nullSink }), config: {}, runDir: "/run" });
    const vm = await hv.createVm(config);
    await vm.start();
    assert.equal(await hv.attachVm(vm.saveState()), vm);
    (vm as MockVm).simulateExit({ kind: "crashed", code: 1, reason: "panic" });
    assert.deepEqual(await vm.wait(), { kind: "crashed", code: 1, reason: "panic" });
    await assert.rejects(
      hv.attachVm(vm.saveState()),
      (e: unknown) => e instanceof HypervisorError && e.code === "NotFound",
    );
  },
});
