/**
 * The plugin contract. Every plugin is an ES module whose default export is a {@link PluginModule}:
 * a manifest (identity + the Deno permissions it needs) and `create(ctx)` returning a ready backend.
 * Plugins may `import type` from here and import values only from `runtime/log`, `runtime/errors.ts`,
 * `runtime/ids.ts` and `runtime/sys`.
 *
 * @module
 */
import type { Logger } from "../runtime/log/logger.ts";
import type { DeviceId, MacAddress, SandboxId } from "../runtime/ids.ts";

export type PluginKind = "hypervisor" | "network" | "storage" | "store" | "factory";
export const PLUGIN_KINDS: readonly PluginKind[] = ["hypervisor", "network", "storage", "store", "factory"];

/** Identity and needs of a plugin. */
export interface PluginManifest<K extends PluginKind = PluginKind> {
  readonly kind: K;
  /** Short name used in configuration: "qemu", "tcfilter", "9p", "fs". */
  readonly name: string;
  readonly apiVersion: 1;
  readonly description: string;
  /** What the plugin touches, in Deno's own terms. The loader checks these before `create`. */
  readonly permissions: Deno.PermissionOptionsObject;
  readonly features?: readonly string[];
}

/** What `create` gets: injected, never global. */
export interface PluginContext {
  readonly log: Logger;
  /** The plugin's own configuration table (e.g. `[hypervisor.qemu]`), already validated by the core. */
  readonly config: Readonly<Record<string, unknown>>;
  /** Directory for run-time state (sockets, pid files) owned by Cocoon. */
  readonly runDir: string;
}

export interface PluginModule<K extends PluginKind = PluginKind, T = unknown> {
  readonly manifest: PluginManifest<K>;
  create(ctx: PluginContext): Promise<T>;
}

/** Map from kind to the backend interface a plugin of that kind returns. */
export interface PluginBackends {
  hypervisor: Hypervisor;
  network: NetworkBackend;
  storage: StorageBackend;
  store: MetadataStore;
  factory: FactoryBackend;
}

// ---------------------------------------------------------------------------------------------
// Hypervisor

export type Accelerator = "kvm" | "tcg";

export interface HypervisorCapabilities {
  readonly blockHotplug: boolean;
  readonly netHotplug: boolean;
  readonly sharedFs: readonly ("9p" | "virtio-fs")[];
  readonly vsock: boolean;
  readonly pause: boolean;
  readonly template: boolean;
  /**
   * The VMs' pids are made up (a test double): no host process stands behind them, so the runtime
   * moves nothing into a cgroup for them. Absent: real processes.
   */
  readonly simulatedPids?: boolean;
}

/** Where the guest agent listens, seen from the host. */
export type AgentAddress =
  | { readonly kind: "vsock"; readonly cid: number; readonly port: number }
  | { readonly kind: "unix"; readonly path: string }; // virtio-serial port, QEMU listens on `path`

export interface VmConfig {
  readonly id: SandboxId;
  /** Directory owned by this VM: sockets, pidfile, logs. Created by the caller. */
  readonly stateDir: string;
  readonly kernel: string;
  readonly initrd?: string;
  /** Extra kernel parameters (appended after the plugin's own). */
  readonly kernelParams: readonly string[];
  readonly vcpus: number;
  readonly maxVcpus: number;
  readonly memoryMiB: number;
  readonly maxMemoryMiB: number;
  /** Devices present at boot. */
  readonly devices: readonly Device[];
  /** "auto" picks KVM where ordinary guests run, else TCG. */
  readonly accelerator: "auto" | Accelerator;
  readonly agentChannel: "virtio-serial" | "vsock";
  readonly consoleLog: string;
  readonly debugConsole?: boolean;
  /**
   * Network namespace (path, or name under /var/run/netns) to run the VMM in: tap devices made
   * there by a network plugin are opened by name from inside it.
   */
  readonly netns?: string;
  /**
   * Guest RAM in a file shared by a template VM and its clones (VM factory). `template`: boot with
   * the file mapped shared, so the guest's RAM ends up in it; `clone`: map it privately
   * (copy-on-write) and restore the device state saved by {@link Vm.saveTemplate} instead of booting.
   */
  readonly memoryTemplate?: MemoryTemplate;
}

export type MemoryTemplate =
  | { readonly kind: "template"; readonly memoryFile: string }
  | { readonly kind: "clone"; readonly memoryFile: string; readonly stateFile: string };

export type Device =
  | {
    readonly kind: "block";
    readonly id: DeviceId;
    readonly path: string;
    readonly readOnly: boolean;
    readonly driver: "virtio-blk" | "virtio-scsi" | "nvdimm";
    /**
     * The file's size in bytes, for "nvdimm" (a virtio-pmem device maps the whole file as guest
     * memory: a multiple of 2 MiB that fits between the memory and the maximum memory).
     */
    readonly sizeBytes?: number;
  }
  | {
    readonly kind: "net";
    readonly id: DeviceId;
    readonly tap: string;
    readonly mac: MacAddress;
    readonly mtu: number;
    /**
     * A character device (a macvtap's node) that the hypervisor opens read-write and hands to the
     * VMM as the tap's file descriptor, instead of opening the tap by name.
     */
    readonly charDevice?: string;
  }
  | { readonly kind: "vsock"; readonly id: DeviceId; readonly cid: number }
  | {
    readonly kind: "share-fs";
    readonly id: DeviceId;
    readonly tag: string;
    readonly source: string;
    readonly transport: "9p" | "virtio-fs";
    readonly readOnly?: boolean;
    /** virtio-fs: the vhost-user socket of a running virtiofsd. */
    readonly socket?: string;
  }
  | { readonly kind: "vfio"; readonly id: DeviceId; readonly bdf: string };

export interface AttachedDevice {
  readonly device: Device;
  /** Guest-visible address: PCI slot, virtio serial, scsi id... */
  readonly guestAddress?: string;
}

export type VmExit =
  | { readonly kind: "shutdown" } // guest powered off
  | { readonly kind: "killed"; readonly signal?: string }
  | { readonly kind: "crashed"; readonly code: number; readonly reason: string }
  | { readonly kind: "unknown" };

/** What is needed to re-attach to a running VM from another process. */
export interface VmState {
  readonly id: SandboxId;
  readonly hypervisor: string;
  readonly pid: number;
  readonly stateDir: string;
  readonly qmpSocket?: string;
  readonly agent: AgentAddress;
  readonly extra?: Readonly<Record<string, unknown>>;
}

/** One line of `cocoon check`. "fail" means a sandbox cannot run until it is fixed. */
export interface HostCheck {
  readonly name: string;
  readonly status: "ok" | "warn" | "fail" | "info";
  readonly detail: string;
  /** What to do about a "fail" or "warn". */
  readonly fix?: string;
}

/**
 * Keys of a `[hypervisor.*]` table that the core validates and interprets itself. A hypervisor plugin
 * receives the whole table (defaults filled in) and ignores these; it validates the rest.
 */
export const CORE_HYPERVISOR_KEYS: readonly string[] = [
  "valid_hypervisor_paths",
  "kernel",
  "valid_kernel_paths",
  "initrd",
  "valid_initrd_paths",
  "image",
  "valid_image_paths",
  "default_maxmemory",
  "shared_fs",
  "virtio_fs_daemon",
  "valid_virtio_fs_daemon_paths",
  "virtio_fs_cache",
  "virtio_fs_extra_args",
  "block_device_driver",
  "disable_image_nvdimm",
  "enable_annotations",
  "entropy_source",
];

export interface Hypervisor {
  capabilities(): HypervisorCapabilities;
  /** Host facts this hypervisor depends on (binary, version, accelerator and why), for `cocoon check`. */
  hostReport?(opts?: { signal?: AbortSignal }): Promise<readonly HostCheck[]>;
  /** Host prerequisites; throws a RuntimeError naming what is missing. */
  check(opts?: { signal?: AbortSignal }): Promise<void>;
  /** Returns a handle for a VM that is ready to `start`. */
  createVm(config: VmConfig, opts?: { signal?: AbortSignal }): Promise<Vm>;
  /** Re-attaches to a VM that another process started. */
  attachVm(state: VmState, opts?: { signal?: AbortSignal }): Promise<Vm>;
  /**
   * What a VM template depends on besides the VM config (binary, its version, plugin settings),
   * as a stable string: a change invalidates templates. Hypervisors with templates implement it.
   */
  identity?(opts?: { signal?: AbortSignal }): Promise<string>;
}

export interface Vm extends AsyncDisposable {
  readonly id: SandboxId;
  start(opts?: { signal?: AbortSignal }): Promise<void>;
  /** Graceful power-off, then forced after `timeoutMs`; `force` skips the graceful step. */
  stop(opts?: { force?: boolean; timeoutMs?: number }): Promise<void>;
  pause(): Promise<void>;
  resume(): Promise<void>;
  wait(): Promise<VmExit>;
  addDevice(device: Device): Promise<AttachedDevice>;
  removeDevice(device: AttachedDevice): Promise<void>;
  agentAddress(): AgentAddress;
  pids(): readonly number[];
  saveState(): VmState;
  /**
   * Template VMs (`memoryTemplate.kind === "template"`): pauses the guest and writes its device
   * state to `stateFile` (RAM stays in the shared memory file). The VM stays paused; stop it after.
   */
  saveTemplate?(stateFile: string, opts?: { signal?: AbortSignal }): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Network, storage, store

/** A route of the netns's main table (the kernel's connected routes excluded). */
export interface NetworkRoute {
  /** CIDR, or "" for the default route. */
  readonly destination: string;
  readonly gateway: string;
  readonly device: string;
  readonly source: string;
  /** rtnetlink scope: 0 universe, 253 link, 254 host. */
  readonly scope: number;
  readonly family: 4 | 6;
  readonly metric: number;
}

/** A static neighbour (ARP/NDP) entry; `state` holds NUD bits (0x80 permanent). */
export interface NetworkNeighbor {
  readonly address: string;
  readonly device: string;
  readonly mac: string;
  readonly state: number;
}

export interface NetworkEndpoint {
  readonly name: string; // interface name in the netns, e.g. eth0
  readonly mac: MacAddress;
  readonly mtu: number;
  readonly addresses: readonly string[]; // CIDR
  /** Routes through this interface, for the guest (absent: none). */
  readonly routes?: readonly NetworkRoute[];
  /** Static neighbours on this interface, for the guest. */
  readonly neighbors?: readonly NetworkNeighbor[];
}

/** What a rescan changed: the whole new attachment, and the devices to hot-plug and unplug. */
export interface NetworkRescanResult {
  readonly attachment: NetworkAttachment;
  readonly added: readonly Device[];
  readonly removed: readonly Device[];
}

export interface NetworkAttachment {
  readonly endpoints: readonly NetworkEndpoint[];
  /** Devices to add to the VM for these endpoints. */
  readonly devices: readonly Device[];
}

export interface NetworkBackend {
  /** Connects the netns's interfaces to the VM's devices (taps, tc redirects...). */
  attach(netns: string, opts: { sandbox: SandboxId; signal?: AbortSignal }): Promise<NetworkAttachment>;
  detach(netns: string, attachment: NetworkAttachment): Promise<void>;
  /** Host prerequisites; throws `FailedPrecondition` with the reason when the model cannot work here. */
  check?(opts?: { signal?: AbortSignal }): Promise<void>;
  /** Connects interfaces added to the netns since `previous` and drops those gone. */
  rescan?(
    netns: string,
    previous: NetworkAttachment,
    opts: { sandbox: SandboxId; signal?: AbortSignal },
  ): Promise<NetworkRescanResult>;
}

export interface OciMount {
  readonly destination: string;
  readonly type?: string;
  readonly source?: string;
  readonly options?: readonly string[];
}

export interface GuestStorage {
  readonly driver: string;
  readonly source: string; // guest-side source (mount tag or device)
  readonly fstype: string;
  readonly options: readonly string[];
  readonly mountPoint: string; // guest path
  readonly devices: readonly Device[];
}

/** Driver of a storage visible through the sandbox share: nothing to mount in the guest. */
export const SHARED_DRIVER = "shared";

/** What a shared-filesystem plugin prepared for a sandbox at boot (`prepareSandbox`). */
export interface PreparedShare {
  /** Devices the VM must have at boot. */
  readonly devices: readonly Device[];
  /** Guest mounts made when the sandbox is created (before any container). */
  readonly storages: readonly GuestStorage[];
  /** Plugin data (host paths, daemon pids) handed back to `share`, `unshare`, `releaseSandbox`. */
  readonly state: Readonly<Record<string, unknown>>;
}

export interface SandboxShareOptions {
  readonly sandbox: SandboxId;
  /** The sandbox's host directory (the plugin may create files below it). */
  readonly dir: string;
  readonly signal?: AbortSignal;
}

export interface ShareOptions {
  readonly sandbox: SandboxId;
  readonly vm: Vm;
  readonly guestPath: string;
  readonly prepared?: PreparedShare;
}

export interface UnshareOptions {
  readonly vm: Vm;
  readonly prepared?: PreparedShare;
}

/**
 * A storage plugin. A shared-filesystem plugin (9p, virtio-fs) exports one host directory to the
 * guest at boot (`prepareSandbox`: QEMU cannot hotplug 9p) and later shares each source into it, so
 * `share` gets what `prepareSandbox` returned. A storage whose `driver` is {@link SHARED_DRIVER}
 * needs no guest mount (it is visible at `source`); any other is mounted by the agent at
 * `mountPoint`.
 */
export interface StorageBackend {
  canHandle(mount: OciMount): boolean;
  /** Host prerequisites (e.g. the virtiofsd binary); throws a RuntimeError naming what is missing. */
  check?(opts?: { signal?: AbortSignal }): Promise<void>;
  prepareSandbox?(opts: SandboxShareOptions): Promise<PreparedShare>;
  releaseSandbox?(prepared: PreparedShare, opts: SandboxShareOptions): Promise<void>;
  share(mount: OciMount, opts: ShareOptions): Promise<GuestStorage>;
  unshare(storage: GuestStorage, opts: UnshareOptions): Promise<void>;
}

export interface MetadataStore {
  save(key: string, value: unknown): Promise<void>;
  load(key: string): Promise<unknown | undefined>;
  delete(key: string): Promise<void>;
  list(prefix?: string): Promise<string[]>;
}

// ---------------------------------------------------------------------------------------------
// VM factory

/** Connects to a VM's guest agent and resolves once it answers; the result closes the connection. */
export type AgentProbe = (
  address: AgentAddress,
  opts: { timeoutMs: number; signal?: AbortSignal },
) => Promise<{ close(): void }>;

/** Makes a fresh clone its own guest: entropy, clock, hostname (the core speaks to its agent). */
export type CloneSetup = (
  vm: Vm,
  opts: { hostname: string; signal?: AbortSignal },
) => Promise<void>;

/** One progress step of building a template or filling a cache, for `cocoon factory init`. */
export interface FactoryProgress {
  readonly step: string;
  readonly detail?: string;
  /** Milliseconds since the operation began. */
  readonly elapsedMs: number;
}

/** What a factory call needs from the core. */
export interface FactoryOptions {
  readonly hypervisor: Hypervisor;
  readonly probeAgent: AgentProbe;
  readonly setupClone?: CloneSetup;
  /** Seconds to wait for a template VM's agent. */
  readonly agentTimeoutMs: number;
  readonly signal?: AbortSignal;
  readonly progress?: (p: FactoryProgress) => void;
}

/** A started VM handed out by a factory, and how it came to be. */
export interface FactoryVm {
  readonly vm: Vm;
  readonly origin: "boot" | "template" | "cache";
  /** Milliseconds from the request to a running guest. */
  readonly startMs: number;
}

export interface FactoryStatus {
  readonly kind: string;
  /** One line per template or cached VM. */
  readonly items: readonly {
    readonly name: string;
    readonly state: string;
    readonly detail?: string;
  }[];
}

/**
 * A VM factory: `new` boots every VM, `template` clones a saved template, `cache` hands out
 * pre-booted VMs. `getVm` returns a started VM with every device of `config`; devices a template
 * did not have at boot are hot-plugged.
 */
export interface FactoryBackend {
  readonly name: string;
  getVm(config: VmConfig, opts: FactoryOptions & { hostname: string }): Promise<FactoryVm>;
  /** Builds what the factory needs ahead of time (a template for `config`'s shape). */
  init(config: VmConfig, opts: FactoryOptions): Promise<FactoryStatus>;
  status(opts?: { signal?: AbortSignal }): Promise<FactoryStatus>;
  /** Removes what `init` made (templates, their memory mounts, cached VMs). */
  destroy(opts?: { signal?: AbortSignal }): Promise<void>;
}
