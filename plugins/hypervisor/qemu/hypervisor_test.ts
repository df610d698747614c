import assert from "node:assert/strict";
import { ConfigError, HypervisorError } from "../../../runtime/errors.ts";
import { sandboxId } from "../../../runtime/ids.ts";
import { leftovers, quietLog, TEST_PERMISSIONS, testHypervisor } from "./_test_util.ts";
import { detectAccelerator } from "./detect.ts";
import plugin from "./mod.ts";

Deno.test({
  name: "qemu plugin create() validates its config table and check() passes on this host",
  permissions: plugin.manifest.permissions,
  async fn() {
    const hv = await plugin.create({
      log: quietLog,
      config: { machine_type: "q35", default_memory: 256 },
      runDir: "/run/cocoon",
    });
    assert.deepEqual(hv.capabilities().sharedFs, ["9p", "virtio-fs"]);
    await hv.check();
    await assert.rejects(
      plugin.create({ log: quietLog, config: { machine_type: "isapc" }, runDir: "/run/cocoon" }),
      (e: unknown) => e instanceof ConfigError && e.code === "InvalidArgument",
    );
  },
});

Deno.test({
  name: "check() fails with FailedPrecondition for a missing binary, and for kvm where KVM is unusable",
  permissions: { ...TEST_PERMISSIONS, run: true },
  async fn() {
    await assert.rejects(
      testHypervisor({ path: "/nonexistent/qemu-system-x86_64" }).check(),
      (e: unknown) => e instanceof HypervisorError && e.code === "FailedPrecondition",
    );
    if ((await detectAccelerator()).accel === "tcg") {
      await assert.rejects(
        testHypervisor({ accelerator: "kvm" }).check(),
        (e: unknown) => e instanceof HypervisorError && /Cannot use accelerator "kvm"/.test(e.message),
      );
    }
  },
});

Deno.test({
  name: "QemuVm.start() with an aborted signal fails with Cancelled and leaves nothing behind",
  permissions: TEST_PERMISSIONS,
  async fn() {
    const stateDir = await Deno.makeTempDir({ dir: "/tmp", prefix: "cocoon-qemu-" });
    try {
      const vm = await testHypervisor().createVm({
        id: sandboxId("qemu-abort"),
        stateDir,
        kernel: "/nonexistent/vmlinuz",
        kernelParams: [],
        vcpus: 1,
        maxVcpus: 1,
        memoryMiB: 128,
        maxMemoryMiB: 128,
        devices: [],
        accelerator: "tcg",
        agentChannel: "virtio-serial",
        consoleLog: `${stateDir}/console.log`,
      });
      const ac = new AbortController();
      ac.abort();
      await assert.rejects(vm.start({ signal: ac.signal }), (e: unknown) => {
        assert.ok(e instanceof HypervisorError);
        assert.ok(e.code === "Cancelled" || /qemu exited with code 1/.test(e.message), e.message);
        return true;
      });
      assert.deepEqual(vm.pids(), []);
      assert.deepEqual(await leftovers(stateDir), []);
    } finally {
      await Deno.remove(stateDir, { recursive: true });
    }
  },
});
