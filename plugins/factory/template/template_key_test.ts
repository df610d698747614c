import assert from "node:assert/strict";
import { HypervisorError } from "../../../runtime/errors.ts";
import { deviceId, macAddress, sandboxId } from "../../../runtime/ids.ts";
import type { VmConfig } from "../../types.ts";
import { cloneVmConfig, templateVmConfig } from "./template_build.ts";
import { hashOf, sharedKernelParams, splitDevices, templateShape } from "./template_key.ts";
import { templatePaths } from "./template_store.ts";

const vm: VmConfig = {
  id: sandboxId("sb-1"),
  stateDir: "/run/cocoon/sandboxes/sb-1/vm",
  kernel: "/g/vmlinuz",
  initrd: "/g/initrd.img",
  kernelParams: ["panic=1", "cocoon.hostname=sb-1", "agent.channel=serial"],
  vcpus: 1,
  maxVcpus: 2,
  memoryMiB: 256,
  maxMemoryMiB: 512,
  devices: [
    {
      kind: "block",
      id: deviceId("userland"),
      path: "/g/rootfs.erofs",
      readOnly: true,
      driver: "virtio-blk",
    },
    {
      kind: "share-fs",
      id: deviceId("shared"),
      tag: "cocoon-shared",
      source: "/run/x/sb-1/shared",
      transport: "9p",
    },
    { kind: "net", id: deviceId("eth0"), tap: "tap0", mac: macAddress("02:00:00:00:00:01"), mtu: 1500 },
  ],
  accelerator: "tcg",
  agentChannel: "virtio-serial",
  consoleLog: "/run/cocoon/sandboxes/sb-1/console.log",
  netns: "/var/run/netns/pod",
};

Deno.test({
  name: "splitDevices() keeps 9p shares and read-only disks at boot and hot-plugs NICs",
  permissions: "none",
  fn() {
    const { boot, hotplug } = splitDevices(vm);
    assert.deepEqual(boot.map((d) => d.id), ["userland", "shared"]);
    assert.deepEqual(hotplug.map((d) => d.id), ["eth0"]);
  },
});

Deno.test({
  name: "splitDevices() refuses virtio-fs, vsock and a vsock agent channel with FailedPrecondition",
  permissions: "none",
  fn() {
    const refused = (v: VmConfig, re: RegExp) =>
      assert.throws(
        () => splitDevices(v),
        (e: unknown) => e instanceof HypervisorError && e.code === "FailedPrecondition" && re.test(e.message),
      );
    refused({
      ...vm,
      devices: [{ kind: "share-fs", id: deviceId("fs"), tag: "t", source: "/s", transport: "virtio-fs" }],
    }, /device "fs" is virtio-fs/);
    refused({ ...vm, devices: [{ kind: "vsock", id: deviceId("v"), cid: 3 }] }, /device "v" is vsock/);
    refused({ ...vm, agentChannel: "vsock" }, /its agent channel is vsock/);
  },
});

Deno.test({
  name: "templateShape() is the same for two sandboxes and differs when memory, kernel or a disk changes",
  permissions: "none",
  async fn() {
    const other: VmConfig = {
      ...vm,
      id: sandboxId("sb-2"),
      stateDir: "/elsewhere/vm",
      consoleLog: "/elsewhere/console.log",
      kernelParams: ["panic=1", "cocoon.hostname=sb-2", "agent.channel=serial"],
      devices: vm.devices.map((d) => d.kind === "share-fs" ? { ...d, source: "/elsewhere/shared" } : d),
    };
    const h = async (v: VmConfig) => await hashOf(templateShape(v));
    assert.equal(await h(vm), await h(other));
    assert.notEqual(await h(vm), await h({ ...vm, memoryMiB: 512 }));
    assert.notEqual(await h(vm), await h({ ...vm, kernel: "/g2/vmlinuz" }));
    assert.notEqual(await h(vm), await h({ ...vm, kernelParams: [...vm.kernelParams, "agent.log=debug"] }));
    assert.notEqual(
      await h(vm),
      await h({
        ...vm,
        devices: vm.devices.map((d) => d.kind === "block" ? { ...d, path: "/g/other.erofs" } : d),
      }),
    );
    assert.deepEqual(sharedKernelParams(vm.kernelParams), ["panic=1", "agent.channel=serial"]);
  },
});

Deno.test({
  name: "templateVmConfig() and cloneVmConfig() give the template shared RAM and the clone a private map",
  permissions: "none",
  fn() {
    const paths = templatePaths("/run/cocoon/template/", "0123456789abcdef0123456789abcdef");
    assert.equal(paths.memory, "/run/cocoon/template/0123456789abcdef0123456789abcdef/memory");
    const t = templateVmConfig(vm, "0123456789abcdef0123456789abcdef", paths);
    assert.equal(t.id, "tmpl-0123456789ab");
    assert.equal(t.netns, undefined);
    assert.deepEqual(t.memoryTemplate, { kind: "template", memoryFile: paths.memory });
    assert.deepEqual(t.devices.map((d) => d.kind === "share-fs" ? d.source : d.id), [
      "userland",
      `${paths.build}/share-0`,
    ]);
    assert.ok(t.kernelParams.includes("cocoon.hostname=cocoon-template"));
    const c = cloneVmConfig(vm, paths);
    assert.deepEqual(c.memoryTemplate, { kind: "clone", memoryFile: paths.memory, stateFile: paths.state });
    assert.deepEqual(c.devices.map((d) => d.id), ["userland", "shared"]);
    assert.equal(c.stateDir, vm.stateDir);
    assert.equal(c.netns, vm.netns);
  },
});
