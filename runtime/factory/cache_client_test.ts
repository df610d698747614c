import assert from "node:assert/strict";
import { deviceId, sandboxId } from "../ids.ts";
import type { VmConfig } from "../../plugins/types.ts";
import { movedState } from "./cache_client.ts";
import { vmShapeKey } from "./vm_shape.ts";

Deno.test({
  name: "movedState() points every path of a cached VM at the sandbox directory and keeps the launch socket",
  permissions: "none",
  fn() {
    const from = "/run/cocoon/cache/cache-1a2b3c4d";
    const s = movedState({
      dir: from,
      key: "k",
      state: {
        id: sandboxId("cache-1a2b3c4d"),
        hypervisor: "qemu",
        pid: 42,
        stateDir: `${from}/vm`,
        qmpSocket: `${from}/vm/qmp.sock`,
        agent: { kind: "unix", path: `${from}/vm/agent.sock` },
        extra: { consoleLog: `${from}/console.log`, machineType: "q35" },
      },
    }, "/run/cocoon/sandboxes/pod-1/");
    assert.deepEqual(s, {
      id: "cache-1a2b3c4d",
      hypervisor: "qemu",
      pid: 42,
      stateDir: "/run/cocoon/sandboxes/pod-1/vm",
      qmpSocket: "/run/cocoon/sandboxes/pod-1/vm/qmp.sock",
      agent: { kind: "unix", path: "/run/cocoon/sandboxes/pod-1/vm/agent.sock" },
      extra: {
        consoleLog: "/run/cocoon/sandboxes/pod-1/console.log",
        machineType: "q35",
        launchedQmpSocket: `${from}/vm/qmp.sock`,
      },
    });
  },
});

Deno.test({
  name: "vmShapeKey() ignores names, paths and hostname but not sizes or devices",
  permissions: "none",
  async fn() {
    const vm = (id: string, memoryMiB = 256): VmConfig => ({
      id: sandboxId(id),
      stateDir: `/s/${id}/vm`,
      kernel: "/g/vmlinuz",
      kernelParams: ["panic=1", `cocoon.hostname=${id}`],
      vcpus: 1,
      maxVcpus: 1,
      memoryMiB,
      maxMemoryMiB: 512,
      devices: [{
        kind: "share-fs",
        id: deviceId("shared"),
        tag: "t",
        source: `/s/${id}/shared`,
        transport: "9p",
      }],
      accelerator: "tcg",
      agentChannel: "virtio-serial",
      consoleLog: `/s/${id}/console.log`,
    });
    assert.equal(await vmShapeKey(vm("a")), await vmShapeKey(vm("b")));
    assert.notEqual(await vmShapeKey(vm("a")), await vmShapeKey(vm("a", 512)));
    assert.notEqual(await vmShapeKey(vm("a")), await vmShapeKey({ ...vm("a"), devices: [] }));
  },
});
