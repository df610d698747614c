/**
 * Inputs shared by the command-line groups, and helpers for QEMU ids.
 *
 * @module
 */
import type { Accelerator, VmConfig } from "../../../types.ts";
import type { QemuConfig } from "../config.ts";

/** Files a VM owns inside its state directory. */
export interface VmPaths {
  readonly qmpSocket: string;
  readonly agentSocket: string;
  readonly pidFile: string;
  readonly consoleLog: string;
}

/** Everything the command line is built from. */
export interface QemuArgsInput {
  readonly vm: VmConfig;
  readonly qemu: QemuConfig;
  readonly accel: Accelerator;
  readonly paths: VmPaths;
  /** QEMU runs as a uid of its own (it gets a second monitor, for the host to pass files on). */
  readonly ownUid?: boolean;
}

/** The paths of a VM's files under `stateDir` (`consoleLog` comes from the VM config). */
export function vmPaths(vm: Pick<VmConfig, "stateDir" | "consoleLog">): VmPaths {
  const dir = vm.stateDir.replace(/\/+$/, "");
  return {
    qmpSocket: `${dir}/qmp.sock`,
    agentSocket: `${dir}/agent.sock`,
    pidFile: `${dir}/qemu.pid`,
    consoleLog: vm.consoleLog,
  };
}

/**
 * The descriptors of the listening sockets the launcher binds (as root, in the VM's root-owned
 * state directory) for a QEMU that runs as a uid of its own: it can then make no file there.
 */
export const LISTEN_FD = { qmp: 90, agent: 91, debug: 92, fdPass: 93 } as const;

/** A listening socket chardev: on its inherited descriptor, or bound by QEMU at `path`. Pure. */
export function listenChardev(
  input: Pick<QemuArgsInput, "ownUid">,
  id: string,
  fd: number,
  path: string,
): string {
  const where = input.ownUid === true ? `fd=${fd}` : `path=${optValue(path)}`;
  return `socket,id=${id},${where},server=on,wait=off`;
}

/** Name of a QEMU option value: commas must be doubled inside `-opt k=v,...` values. */
export function optValue(s: string): string {
  return s.replaceAll(",", ",,");
}

/**
 * A QEMU id (device id, node name, netdev id) for a Cocoon device id: letters, digits, "-" and
 * "_", starting with a letter, at most 28 characters (block node names are limited to 31 and a
 * suffix such as "-f" may be added).
 * Deterministic, so removal can recompute it.
 */
const MAX_ID = 28;

export function qemuId(prefix: string, id: string): string {
  const clean = id.replace(/[^A-Za-z0-9_-]/g, "_");
  const full = `${prefix}-${clean}`;
  if (full.length <= MAX_ID && clean === id) return full;
  return `${prefix}-${clean.slice(0, MAX_ID - prefix.length - 10)}-${fnv1a(id)}`;
}

function fnv1a(s: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, "0");
}

/** The virtio driver for the machine: `virtio-blk-pci` on PCI machines, `virtio-blk-device` on microvm. */
export function virtioDriver(base: string, qemu: QemuConfig): string {
  return qemu.machineType === "microvm" ? `${base}-device` : `${base}-pci`;
}
