import assert from "node:assert/strict";
import { sandboxId } from "../../../../runtime/ids.ts";
import type { VmConfig } from "../../../types.ts";
import { DEFAULT_QEMU_CONFIG } from "../config.ts";
import { consoleArgs, DEBUG_PORT_NAME, debugConsoleSocket } from "./console.ts";
import { vmPaths } from "./types.ts";

const vm: VmConfig = {
  id: sandboxId("sb-1"),
  stateDir: "/run/cocoon/sb-1/vm/",
  kernel: "/k",
  kernelParams: [],
  vcpus: 1,
  maxVcpus: 1,
  memoryMiB: 256,
  maxMemoryMiB: 256,
  devices: [],
  accelerator: "tcg",
  agentChannel: "virtio-serial",
  consoleLog: "/run/cocoon/sb-1/console.log",
};

const args = (v: VmConfig, machineType: "q35" | "microvm" = "q35") =>
  consoleArgs({ vm: v, qemu: { ...DEFAULT_QEMU_CONFIG, machineType }, accel: "tcg", paths: vmPaths(v) });

Deno.test({
  name: "consoleArgs() adds no debug port unless the debug console is on",
  permissions: "none",
  fn() {
    assert.deepEqual(args(vm), [
      "-display",
      "none",
      "-chardev",
      "file,id=console0,path=/run/cocoon/sb-1/console.log,append=on",
      "-serial",
      "chardev:console0",
    ]);
  },
});

Deno.test({
  name: "consoleArgs() adds the cocoon.debug port on its own controller when the debug console is on",
  permissions: "none",
  fn() {
    const a = args({ ...vm, debugConsole: true });
    assert.deepEqual(a.slice(6), [
      "-device",
      "virtio-serial-pci,id=vserialdbg",
      "-chardev",
      "socket,id=debugcon,path=/run/cocoon/sb-1/vm/debug.sock,server=on,wait=off",
      "-device",
      `virtserialport,bus=vserialdbg.0,chardev=debugcon,name=${DEBUG_PORT_NAME}`,
    ]);
    assert.equal(args({ ...vm, debugConsole: true }, "microvm")[7], "virtio-serial-device,id=vserialdbg");
    assert.equal(debugConsoleSocket("/a/b//"), "/a/b/debug.sock");
  },
});
