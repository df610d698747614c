/**
 * `-kernel`, `-initrd` and `-append`.
 *
 * @module
 */
import { memoryHotplug } from "./cpu_memory.ts";
import type { QemuArgsInput } from "./types.ts";

/** The kernel command line: ours, then the plugin config's, then the VM's. */
export function kernelParams(input: QemuArgsInput): string[] {
  const { vm, qemu } = input;
  const params = [
    "console=ttyS0",
    "reboot=k",
    "panic=1",
    "i8042.noaux",
    "i8042.nomux",
    "i8042.nopnp",
    "i8042.dumbkbd",
    "cryptomgr.notests",
  ];
  if (!qemu.enableDebug && vm.debugConsole !== true) params.push("quiet");
  if (memoryHotplug(input)) params.push("memhp_default_state=online");
  params.push(...qemu.kernelParams, ...vm.kernelParams);
  return params;
}

export function kernelArgs(input: QemuArgsInput): string[] {
  const args = ["-kernel", input.vm.kernel];
  if (input.vm.initrd !== undefined) args.push("-initrd", input.vm.initrd);
  args.push("-append", kernelParams(input).join(" "));
  return args;
}
