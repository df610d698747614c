/**
 * The domain types of the library API (`mod.ts`): what a program passes in and gets back. No
 * generated protocol type appears here; records and statuses are the sandbox core's own.
 *
 * @module
 */
import type { VmExit } from "../../../plugins/types.ts";
import type { ResolvedConfig } from "../../config/schema.ts";
import type { Logger } from "../../log/logger.ts";
import type { ContainerStats } from "../../agent_client/types.ts";
import type { ContainerStatus, ProcessStatus, SandboxStatus } from "../../sandbox/status.ts";

export type { ContainerStats, ContainerStatus, ProcessStatus, SandboxStatus };

/** Where the configuration comes from; shared by {@link SandboxConfig} and fetch/list options. */
export interface ConnectOptions {
  /**
   * A configuration file (as `--config`). Default: `COCOON_CONFIG`, `/etc/cocoon/configuration.toml`,
   * then the built-in configuration. Ignored when `config` is given.
   */
  readonly configPath?: string;
  /** An already loaded configuration (`loadConfig()`), used as is. */
  readonly config?: ResolvedConfig;
  /** Where the runtime logs (JSON lines); silent by default. */
  readonly log?: Logger;
  readonly signal?: AbortSignal;
}

/** What {@link createSandbox} makes. Every field is optional. */
export interface SandboxConfig extends ConnectOptions {
  /** Sandbox id (1-128 of letters, digits, `_+-.`); a random `sb-xxxxxxxx` when absent. */
  readonly id?: string;
  /** vCPUs at boot (overrides `default_vcpus` of the hypervisor table). */
  readonly vcpus?: number;
  /** Guest memory at boot in MiB (overrides `default_memory`). */
  readonly memoryMiB?: number;
  /**
   * Other keys of the `[hypervisor.<name>]` table, as in the TOML file (`{ accelerator: "tcg" }`).
   * The caller owns the configuration, so no allow-list applies (unlike annotations).
   */
  readonly hypervisor?: Readonly<Record<string, unknown>>;
  /** OCI-style annotations: `io.cocoon.config.*` overrides pass the config's allow-lists. */
  readonly annotations?: Readonly<Record<string, string>>;
  /** Network namespace (path or name) whose interfaces the VM joins; none when absent. */
  readonly netns?: string;
  /** Guest hostname. */
  readonly hostname?: string;
}

/** A sandbox as the store knows it. */
export interface SandboxInfo {
  readonly id: string;
  readonly state: SandboxStatus;
  readonly createdAt: string;
  readonly hypervisor: string;
  readonly vcpus: number;
  readonly memoryMiB: number;
  /** Host pids of the VM; empty when it is not running. */
  readonly pids: readonly number[];
  readonly annotations: Readonly<Record<string, string>>;
  readonly containers: readonly ContainerInfo[];
}

/** What {@link Sandbox.createContainer} runs: `args` (simple form) or a full OCI `spec`. */
export interface ContainerConfig {
  /** Container id; unique on the host. */
  readonly id: string;
  /** Absolute host path of the root filesystem: a directory, a block device or an image file. */
  readonly rootfs: string;
  /** The program and its arguments (simple form). */
  readonly args?: readonly string[];
  /** Extra environment, added to `PATH` and `TERM` (simple form). */
  readonly env?: Readonly<Record<string, string>>;
  /** Working directory in the container (simple form, default `/`). */
  readonly cwd?: string;
  /** Give the process a terminal (simple form). */
  readonly terminal?: boolean;
  /** A full OCI runtime spec (the JSON of a bundle's config.json) instead of the simple form. */
  readonly spec?: unknown;
  /** Open a stdin pipe to the init process (default false). */
  readonly stdin?: boolean;
}

/** A container and its processes. */
export interface ContainerInfo {
  readonly id: string;
  readonly sandboxId: string;
  readonly state: ContainerStatus;
  readonly rootfs: string;
  readonly createdAt: string;
  readonly terminal: boolean;
  readonly annotations: Readonly<Record<string, string>>;
  /** Exec'd processes by id. */
  readonly processes: Readonly<Record<string, ProcessStatus>>;
}

/** A process to run in a running container ({@link Sandbox.enterContainer}). */
export interface ProcessConfig {
  /** Process id within the container; a random `exec-xxxxxxxx` when absent. */
  readonly id?: string;
  readonly args: readonly string[];
  /** Extra environment, added to `PATH` and `TERM`. */
  readonly env?: Readonly<Record<string, string>>;
  readonly cwd?: string;
  readonly terminal?: boolean;
  /** Open a stdin pipe (default false). */
  readonly stdin?: boolean;
  /** uid and gid (default 0). */
  readonly user?: { readonly uid: number; readonly gid: number };
}

/** A terminal size in character cells. */
export interface WindowSize {
  readonly rows: number;
  readonly columns: number;
}

/** The stdio of a process as Web Streams. Closing `stdin` sends EOF. */
export interface ProcessStreams {
  readonly stdin: WritableStream<Uint8Array>;
  readonly stdout: ReadableStream<Uint8Array>;
  readonly stderr: ReadableStream<Uint8Array>;
}

/** A device to hot-plug ({@link Sandbox.addDevice}). */
export interface BlockDeviceConfig {
  readonly kind: "block";
  /** Device id (default: a random `blk-xxxxxxxx`). */
  readonly id?: string;
  /** Absolute host path: a block device or a raw image file. */
  readonly path: string;
  readonly readOnly?: boolean;
  /** Default: `block_device_driver` of the configuration. */
  readonly driver?: "virtio-blk" | "virtio-scsi";
}

export type DeviceConfig = BlockDeviceConfig;

/** A device plugged into the running VM. */
export interface DeviceInfo {
  readonly kind: "block";
  readonly id: string;
  readonly path: string;
  readonly readOnly: boolean;
  readonly driver: "virtio-blk" | "virtio-scsi";
  /** Where the guest sees it (PCI address, or `scsi:<pci>:<id>`). */
  readonly guestAddress: string | null;
}

/** A network interface to hot-plug ({@link Sandbox.addInterface}). */
export interface InterfaceConfig {
  /** Interface name in the guest (`eth1`). */
  readonly name: string;
  /** MAC address (default: random, locally administered). */
  readonly mac?: string;
  readonly mtu?: number;
  /** Addresses in CIDR notation (`10.0.0.2/24`). */
  readonly addresses?: readonly string[];
  /**
   * An existing host tap device to connect. When absent a tap is created (in the host network
   * namespace, where QEMU runs) and removed again by removeInterface or delete.
   */
  readonly tap?: string;
}

export interface IpAddress {
  readonly family: 4 | 6;
  readonly address: string;
  readonly prefix: number;
}

/** A network interface in the guest. */
export interface NetworkInterface {
  readonly name: string;
  readonly mac: string;
  readonly mtu: number;
  readonly up: boolean;
  readonly addresses: readonly IpAddress[];
}

/** A route in the guest's main table. */
export interface Route {
  /** CIDR, or "" for the default route. */
  readonly destination: string;
  readonly gateway?: string;
  readonly device?: string;
  readonly source?: string;
  /** 0 universe, 253 link, 254 host. */
  readonly scope?: number;
  readonly family: 4 | 6;
  readonly metric?: number;
}

/** What {@link Sandbox.monitor} yields. */
export type SandboxEvent =
  | {
    readonly kind: "exit";
    readonly containerId: string;
    /** Absent for the container's init process. */
    readonly execId?: string;
    readonly exitStatus: number;
    readonly at: string;
  }
  | { readonly kind: "oom"; readonly containerId: string; readonly at: string }
  | { readonly kind: "vm-exit"; readonly exit: VmExit; readonly at: string }
  | { readonly kind: "error"; readonly message: string; readonly at: string };
