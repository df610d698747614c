/**
 * What a `QemuVm` is made of: its layout (saved in `VmState.extra`) and, for a VM not running
 * yet, how to launch it.
 *
 * @module
 */
import type { SandboxId } from "../../../runtime/ids.ts";
import type { AgentAddress, MemoryTemplate } from "../../types.ts";
import type { VmPaths } from "./args/types.ts";
import type { MachineType } from "./config.ts";
import type { QemuLaunchWrap } from "./launch.ts";

/** Default cap of the console log (`[hypervisor.qemu] console_log_max_bytes`). */
export const CONSOLE_LOG_MAX = 4 * 1024 * 1024;

/** How the VM is laid out; saved in `VmState.extra`. */
export interface QemuVmLayout {
  readonly id: SandboxId;
  readonly stateDir: string;
  readonly paths: VmPaths;
  readonly machineType: MachineType;
  readonly hotplugPorts: readonly string[];
  readonly sharedMemory: boolean;
  readonly agent: AgentAddress;
  readonly accel: string;
  /** Template or clone RAM (VM factory); absent for ordinary VMs. */
  readonly memoryTemplate?: MemoryTemplate;
  /** Cap of the console log while this process owns the VM. @default CONSOLE_LOG_MAX */
  readonly consoleLogMaxBytes?: number;
  /** The uid QEMU runs as when it has one of its own (released when the VM is cleaned up). */
  readonly vmUid?: number;
  /** The network namespace QEMU runs in (its taps are there). */
  readonly netns?: string;
}

/** What QEMU running as a uid of its own is given access to (runtime/sys/seccomp/loader.ts). */
export interface VmUserGrants {
  /** Taps QEMU opens by name: handed to its uid. */
  readonly taps: readonly string[];
  /** virtio-9p exports: QEMU serves them itself, so it keeps CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FOWNER. */
  readonly shares: readonly string[];
  /** vhost-user sockets QEMU connects to: handed to its uid. */
  readonly sockets: readonly string[];
  /** Files QEMU opens at start (kernel, initrd, disks, its own binary when outside /usr). */
  readonly files: readonly string[];
  /** Listening sockets the launcher binds and QEMU inherits (QMP, agent, debug console). */
  readonly listen?: readonly { readonly fd: number; readonly path: string }[];
  /** Supplementary groups (the group of /dev/kvm under KVM). */
  readonly groups: readonly number[];
}

/** How to launch a VM that is not running yet (binary, args, and the netns and fds around it). */
export interface QemuLaunch extends QemuLaunchWrap {
  readonly startTimeoutMs: number;
  /** Confine QEMU with the no-privileged-files filter (it is written into the VM's state directory). */
  readonly confined?: boolean;
  /** Run QEMU as a uid of its own in a read-only mount namespace, its cwd the state directory. */
  readonly vmUser?: VmUserGrants;
}
