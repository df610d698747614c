/**
 * `-machine` and `-accel`.
 *
 * @module
 */
import type { QemuArgsInput } from "./types.ts";

/** Whether guest RAM must be a shared memfd (virtio-fs needs it). */
export function needsSharedMemory(input: QemuArgsInput): boolean {
  return input.qemu.sharedMemory ||
    input.vm.devices.some((d) => d.kind === "share-fs" && d.transport === "virtio-fs");
}

export function machineArgs(input: QemuArgsInput): string[] {
  const { qemu, accel } = input;
  const props: string[] = [qemu.machineType];
  if (qemu.machineType === "microvm") props.push("x-option-roms=off", "pit=off", "pic=off", "rtc=on");
  if (needsSharedMemory(input) || input.vm.memoryTemplate !== undefined) props.push("memory-backend=ram0");
  const tb = qemu.tcgTbSizeMiB > 0 ? `,tb-size=${qemu.tcgTbSizeMiB}` : "";
  const accelArg = accel === "kvm" ? "kvm" : `tcg,thread=multi${tb}`;
  return ["-machine", props.join(","), "-accel", accelArg];
}
