/**
 * `-cpu`, `-smp` and `-m` (with hotplug slots), and the shared RAM backend when needed.
 *
 * @module
 */
import { needsSharedMemory } from "./machine.ts";
import { optValue, type QemuArgsInput } from "./types.ts";

/** The `-cpu` model used for `accel`. */
export function cpuModel(input: Pick<QemuArgsInput, "qemu" | "accel">): string {
  if (input.qemu.cpuModel !== "") return input.qemu.cpuModel;
  return input.accel === "kvm" ? "host" : "max";
}

/** Whether memory hotplug is configured for this VM. */
export function memoryHotplug(input: QemuArgsInput): boolean {
  return input.qemu.machineType !== "microvm" && input.qemu.memorySlots > 0 &&
    input.vm.maxMemoryMiB > input.vm.memoryMiB;
}

export function cpuMemoryArgs(input: QemuArgsInput): string[] {
  const { vm, qemu } = input;
  const args = ["-cpu", cpuModel(input)];
  const smp = vm.maxVcpus > vm.vcpus ? `${vm.vcpus},maxcpus=${vm.maxVcpus}` : `${vm.vcpus}`;
  args.push("-smp", smp);
  const mem = memoryHotplug(input)
    ? `${vm.memoryMiB}M,slots=${qemu.memorySlots},maxmem=${vm.maxMemoryMiB}M`
    : `${vm.memoryMiB}M`;
  args.push("-m", mem);
  const tmpl = vm.memoryTemplate;
  if (tmpl !== undefined) {
    // template: RAM written through to the file; clone: a private (copy-on-write) map of it
    const share = tmpl.kind === "template" ? "on" : "off";
    args.push(
      "-object",
      `memory-backend-file,id=ram0,size=${vm.memoryMiB}M,mem-path=${
        optValue(tmpl.memoryFile)
      },share=${share}`,
    );
  } else if (needsSharedMemory(input)) {
    args.push("-object", `memory-backend-memfd,id=ram0,size=${vm.memoryMiB}M,share=on`);
  }
  return args;
}
