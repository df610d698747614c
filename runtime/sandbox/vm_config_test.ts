import assert from "node:assert/strict";
import { resolveConfig } from "../config/resolve.ts";
import { sandboxId } from "../ids.ts";
import { buildVmConfig, safeHostname } from "./vm_config.ts";

const cfg = (over: Record<string, unknown> = {}, agent: Record<string, unknown> = {}) =>
  resolveConfig({
    hypervisor: {
      qemu: {
        kernel: "/g/vmlinuz",
        initrd: "/g/initrd.img",
        image: "/g/rootfs.erofs",
        kernel_params: "quiet agent.log=warn",
        ...over,
      },
    },
    runtime: { state_dir: "/run/x" },
    agent,
  }, { file: "t", dropIns: [] });

Deno.test({
  name:
    "buildVmConfig() puts the userland disk first, names it on the command line and places state under the sandbox dir",
  permissions: "none",
  fn() {
    const v = buildVmConfig(cfg(), {
      id: sandboxId("sb1"),
      dir: "/run/x/sandboxes/sb1",
      devices: [],
      imageCmdline: "panic=1",
      hostMemoryMiB: 4096,
      hostCpus: 2,
    });
    assert.equal(v.stateDir, "/run/x/sandboxes/sb1/vm");
    assert.equal(v.consoleLog, "/run/x/sandboxes/sb1/console.log");
    assert.deepEqual(v.devices, [{
      kind: "block",
      id: "userland",
      path: "/g/rootfs.erofs",
      readOnly: true,
      driver: "virtio-blk",
    }]);
    assert.deepEqual(v.kernelParams, [
      "quiet",
      "agent.log=warn",
      "cocoon.userland=/dev/vda",
      "panic=1",
      "cocoon.hostname=sb1",
      "agent.channel=serial",
    ]);
    assert.equal(v.initrd, "/g/initrd.img");
    assert.deepEqual([v.vcpus, v.maxVcpus, v.memoryMiB, v.maxMemoryMiB], [1, 2, 512, 4096]);
  },
});

Deno.test({
  name: "buildVmConfig() drops the disk in initrd mode and lets later kernel parameters win",
  permissions: "none",
  fn() {
    const v = buildVmConfig(cfg({ image: "", default_maxmemory: 1024 }, { enable_debug: true }), {
      id: sandboxId("sb2"),
      dir: "/d",
      devices: [],
    });
    assert.deepEqual(v.devices, []);
    assert.ok(v.kernelParams.includes("agent.log=debug"));
    assert.ok(!v.kernelParams.includes("agent.log=warn"));
    assert.equal(v.maxMemoryMiB, 1024);
    assert.equal(safeHostname("a_b.c"), "a-b-c");
  },
});

Deno.test({
  name: "buildVmConfig(): the parameters Cocoon sets win over kernel_params, and init/cocoon.* are refused",
  permissions: "none",
  fn() {
    const input = { id: sandboxId("sb3"), dir: "/d", devices: [], imageCmdline: "panic=1" };
    const v = buildVmConfig(cfg({ kernel_params: "panic=0 agent.channel=vsock" }), input);
    assert.ok(v.kernelParams.includes("panic=1") && !v.kernelParams.includes("panic=0"));
    assert.ok(
      v.kernelParams.includes("agent.channel=serial") && !v.kernelParams.includes("agent.channel=vsock"),
    );
    for (const p of ["init=/bin/sh", "rdinit=/x", "cocoon.userland=/dev/vdb", "cocoon.hostname=h"]) {
      assert.throws(
        () => buildVmConfig(cfg({ kernel_params: `quiet ${p}` }), input),
        new RegExp(`kernel parameter "${p.replace(/[./]/g, "\\$&")}" is one Cocoon sets`),
      );
    }
  },
});

Deno.test({
  name:
    "buildVmConfig() maps a 2 MiB-aligned userland image with DAX from virtio-pmem when it fits below the maximum memory, else virtio-blk",
  permissions: "none",
  fn() {
    const MiB = 1024 * 1024;
    const input = { id: sandboxId("sb1"), dir: "/run/x/sb1", devices: [], hostMemoryMiB: 4096, hostCpus: 2 };
    const userland = (c: ReturnType<typeof cfg>, imageBytes?: number) => {
      const v = buildVmConfig(c, { ...input, ...(imageBytes !== undefined ? { imageBytes } : {}) });
      const d = v.devices[0];
      assert.ok(d !== undefined && d.kind === "block");
      return {
        driver: d.driver,
        size: d.sizeBytes,
        params: v.kernelParams.filter((p) => p.startsWith("cocoon.userland")),
      };
    };
    assert.deepEqual(userland(cfg(), 108 * MiB), {
      driver: "nvdimm",
      size: 108 * MiB,
      params: ["cocoon.userland=/dev/pmem0", "cocoon.userland_opts=dax=always"],
    });
    const blk = { driver: "virtio-blk", size: undefined, params: ["cocoon.userland=/dev/vda"] };
    assert.deepEqual(userland(cfg({ disable_image_nvdimm: true }), 108 * MiB), blk, "turned off");
    assert.deepEqual(userland(cfg(), 108 * MiB + 4096), blk, "not 2 MiB aligned");
    assert.deepEqual(userland(cfg()), blk, "size unknown");
    assert.deepEqual(userland(cfg({ machine_type: "microvm" }), 108 * MiB), blk, "no PCI");
    assert.deepEqual(
      userland(cfg({ default_memory: 512, default_maxmemory: 600 }), 108 * MiB),
      blk,
      "88 MiB spare below the maximum memory",
    );
    assert.equal(userland(cfg({ default_memory: 512, default_maxmemory: 620 }), 108 * MiB).driver, "nvdimm");
  },
});
