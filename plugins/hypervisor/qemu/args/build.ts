/**
 * The whole QEMU command line, assembled from one builder per argument group.
 *
 * @module
 */
import { HypervisorError } from "../../../../runtime/errors.ts";
import { agentArgs } from "./agent.ts";
import { consoleArgs } from "./console.ts";
import { cpuMemoryArgs } from "./cpu_memory.ts";
import { devicesArgs } from "./devices.ts";
import { kernelArgs } from "./kernel.ts";
import { machineArgs } from "./machine.ts";
import { miscArgs } from "./misc.ts";
import type { QemuArgsInput } from "./types.ts";

/** Longest unix socket path the kernel accepts (sun_path is 108 bytes with the NUL). */
const MAX_SOCKET_PATH = 107;

/**
 * Validates the VM config and returns QEMU's argv (without the binary).
 *
 * @throws {HypervisorError} InvalidArgument for impossible sizes or too long socket paths.
 */
export function buildQemuArgs(input: QemuArgsInput): string[] {
  validate(input);
  return [
    ...miscArgs(input),
    ...machineArgs(input),
    ...cpuMemoryArgs(input),
    ...kernelArgs(input),
    ...consoleArgs(input),
    ...agentArgs(input),
    ...devicesArgs(input),
  ];
}

function validate({ vm, paths }: QemuArgsInput): void {
  const fail = (why: string): never => {
    throw new HypervisorError("InvalidArgument", `Cannot configure VM "${vm.id}": ${why}`);
  };
  if (!Number.isInteger(vm.vcpus) || vm.vcpus < 1) {
    fail(`vcpus must be an integer >= 1: current value is ${vm.vcpus}`);
  }
  if (!Number.isInteger(vm.maxVcpus) || vm.maxVcpus < vm.vcpus) {
    fail(`maxVcpus must be an integer >= vcpus (${vm.vcpus}): current value is ${vm.maxVcpus}`);
  }
  if (!Number.isInteger(vm.memoryMiB) || vm.memoryMiB < 64) {
    fail(`memoryMiB must be an integer >= 64: current value is ${vm.memoryMiB}`);
  }
  if (!Number.isInteger(vm.maxMemoryMiB) || vm.maxMemoryMiB < vm.memoryMiB) {
    fail(
      `maxMemoryMiB must be an integer >= memoryMiB (${vm.memoryMiB}): current value is ${vm.maxMemoryMiB}`,
    );
  }
  for (const p of [paths.qmpSocket, paths.agentSocket]) {
    if (new TextEncoder().encode(p).length > MAX_SOCKET_PATH) {
      fail(`socket path "${p}" is longer than ${MAX_SOCKET_PATH} bytes: use a shorter state directory`);
    }
  }
  const ids = new Set<string>();
  for (const d of vm.devices) {
    if (ids.has(d.id)) fail(`device id "${d.id}" is used twice`);
    ids.add(d.id);
  }
}
