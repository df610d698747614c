/**
 * Domain types of the host-side agent client. Generated protobuf types never leave `trans.ts`.
 *
 * @module
 */
import type { ContainerId, ExecId } from "../ids.ts";

export type StorageDriver = "9p" | "virtio-fs" | "virtio-blk" | "scsi" | "tmpfs" | "bind" | "local";

/** A filesystem the agent mounts in the guest before a sandbox or container uses it. */
export interface GuestMount {
  readonly driver: StorageDriver;
  /** 9p/virtio-fs tag, guest block device path, or guest source path for "bind". */
  readonly source: string;
  readonly mountPoint: string;
  readonly fsType?: string;
  readonly options?: readonly string[];
  readonly driverOptions?: readonly string[];
  readonly readOnly?: boolean;
}

export interface WindowSize {
  readonly rows: number;
  readonly columns: number;
}

export interface StdioSetup {
  readonly stdin?: boolean;
  readonly stdout?: boolean;
  readonly stderr?: boolean;
  readonly terminal?: boolean;
  readonly window?: WindowSize;
}

/** A plain JSON object (OCI spec, OCI process, OCI LinuxResources). */
export type JsonObject = Readonly<Record<string, unknown>>;

export interface CreateSandboxOptions {
  readonly sandboxId: string;
  readonly hostname?: string;
  readonly dns?: readonly string[];
  readonly storages?: readonly GuestMount[];
  readonly guestTime?: Date;
}

export interface CreateContainerOptions {
  readonly id: ContainerId;
  /** The OCI spec with guest paths (root.path inside the guest). */
  readonly spec: JsonObject;
  readonly storages?: readonly GuestMount[];
  readonly stdio?: StdioSetup;
  /** Guest bundle directory; the agent picks one when absent. */
  readonly bundle?: string;
}

export interface ExecOptions {
  readonly containerId: ContainerId;
  readonly execId: ExecId;
  /** OCI `process` object. */
  readonly process: JsonObject;
  readonly stdio?: StdioSetup;
}

/** A process: the init process of a container (no execId) or an exec. */
export interface ProcessRef {
  readonly containerId: ContainerId;
  readonly execId?: ExecId;
}

export interface ProcessExit {
  /** Exit code, or 128 + signal. */
  readonly exitStatus: number;
  readonly exitedAt: Date | undefined;
  readonly pid: number;
}

export interface OutputChunk {
  readonly data: Uint8Array;
  readonly eof: boolean;
}

export interface ContainerStats {
  readonly cpu?: { readonly usageNs: bigint; readonly userNs: bigint; readonly systemNs: bigint };
  readonly memory?: {
    readonly usageBytes: bigint;
    readonly limitBytes: bigint;
    readonly maxUsageBytes: bigint;
    /** Page cache charged to the container (cgroup v2 memory.stat `file`). */
    readonly cacheBytes: bigint;
    /** OOM kills in the container's cgroup (memory.events `oom_kill`). */
    readonly oomKills: bigint;
  };
  readonly pids?: { readonly current: bigint; readonly limit: bigint };
  readonly sampledAt: Date | undefined;
}

export interface AgentVersion {
  readonly agentVersion: string;
  readonly protocolVersion: number;
  readonly kernelRelease: string;
}

export interface GuestDetails {
  readonly kernelRelease: string;
  readonly agentVersion: string;
  readonly memoryBlockSizeBytes: bigint;
  readonly onlineCpus: number;
  readonly totalMemoryBytes: bigint;
  readonly memoryHotplugProbe: boolean;
}

/** An address of an interface: `10.0.0.2` with prefix 24. */
export interface IpAddress {
  readonly family: 4 | 6;
  /** Without the prefix. */
  readonly address: string;
  readonly prefix: number;
}

/** A network interface in the guest. */
export interface GuestInterface {
  /** Name in the guest (`eth0`). */
  readonly name: string;
  /** Lower case. */
  readonly mac: string;
  readonly mtu: number;
  /** Whether the link is up. */
  readonly up: boolean;
  readonly addresses: readonly IpAddress[];
}

/** A route in the guest's main table. */
export interface GuestRoute {
  /** CIDR, or "" for the default route. */
  readonly destination: string;
  /** Next hop. */
  readonly gateway?: string;
  /** Interface name. */
  readonly device?: string;
  /** Preferred source address. */
  readonly source?: string;
  /** 0 universe, 253 link, 254 host. */
  readonly scope?: number;
  readonly family: 4 | 6;
  readonly metric?: number;
}

export interface ArpNeighbor {
  readonly address: IpAddress;
  readonly device: string;
  readonly mac: string;
  readonly state?: number;
}
