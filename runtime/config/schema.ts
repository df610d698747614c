/**
 * The configuration schema. TOML is parsed to `unknown`, drop-ins are merged raw, and the merged tree
 * is validated here into a typed {@link ResolvedConfig}. Key names follow Kata's
 * `configuration-qemu.toml` wherever Kata has one. Defaults live in this file (`@default`) and are
 * mirrored as comments in `configs/configuration-qemu.toml`.
 *
 * @module
 */
import * as v from "valibot";

const int = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  v.pipe(v.number(), v.integer(), v.minValue(min), v.maxValue(max));
const str = () => v.string();
const strList = () => v.array(v.string());
const opt = <T extends v.GenericSchema>(s: T) => v.optional(s);

/** Hypervisor table, shared by `[hypervisor.qemu]`, `[hypervisor.firecracker]`, `[hypervisor.clh]`. */
export const HypervisorSchema = v.strictObject({
  /** VMM binary. @default "/usr/bin/qemu-system-x86_64" */
  path: opt(str()),
  /** Globs that `path` overrides from annotations must match. @default [path] */
  valid_hypervisor_paths: opt(strList()),
  /** Guest kernel. @default "/var/lib/cocoon/guest/current/vmlinuz" */
  kernel: opt(str()),
  valid_kernel_paths: opt(strList()),
  /** Guest initrd (small: busybox, init, modules). @default "/var/lib/cocoon/guest/current/initrd.img" */
  initrd: opt(str()),
  valid_initrd_paths: opt(strList()),
  /** Read-only userland image (agent, crun, libs) attached as a disk; "" = everything in the initrd. */
  image: opt(str()),
  valid_image_paths: opt(strList()),
  /** Extra kernel command line, space separated. @default "" */
  kernel_params: opt(str()),
  /** @default "q35" */
  machine_type: opt(v.picklist(["q35", "pc", "microvm", "virt"])),
  /** "auto" = KVM where ordinary guests run, else TCG. @default "auto" */
  accelerator: opt(v.picklist(["auto", "kvm", "tcg"])),
  /** CPU model ("" = best for the accelerator: host on KVM, max on TCG). @default "" */
  cpu_model: opt(str()),
  /** @default 1 */
  default_vcpus: opt(int(1, 256)),
  /** 0 = number of host CPUs. @default 0 */
  default_maxvcpus: opt(int(0, 256)),
  /** Guest memory in MiB. @default 512 */
  default_memory: opt(int(64, 1 << 20)),
  /** Maximum memory for hotplug in MiB, 0 = host memory. @default 0 */
  default_maxmemory: opt(int(0, 1 << 22)),
  /** @default 10 */
  memory_slots: opt(int(0, 255)),
  /**
   * "auto": virtio-fs when a working virtiofsd is found (and VM templates are off), else virtio-9p;
   * decided by `loadConfig` (see ../config/shared_fs.ts). @default "auto"
   */
  shared_fs: opt(v.picklist(["auto", "virtio-9p", "virtio-fs", "none"])),
  /** virtiofsd binary (a command line, first word the binary). @default "/usr/libexec/virtiofsd" */
  virtio_fs_daemon: opt(str()),
  valid_virtio_fs_daemon_paths: opt(strList()),
  /** @default "auto" */
  virtio_fs_cache: opt(v.picklist(["auto", "never", "metadata", "always"])),
  virtio_fs_extra_args: opt(strList()),
  /** @default "virtio-blk" */
  block_device_driver: opt(v.picklist(["virtio-blk", "virtio-scsi", "nvdimm"])),
  /**
   * Kata's key: false puts the guest userland image on a virtio-pmem device that the guest maps
   * with DAX (erofs `dax=always`), so its pages are the host's page cache, shared by every VM,
   * instead of a copy in each guest's RAM; true (or an image that cannot be mapped) uses
   * virtio-blk. @default false
   */
  disable_image_nvdimm: opt(v.boolean()),
  /** Hypervisor keys that OCI annotations may override. @default ["kernel_params","default_vcpus","default_memory"] */
  enable_annotations: opt(strList()),
  /** @default false */
  enable_debug: opt(v.boolean()),
  /** Entropy device backing file. @default "/dev/urandom" */
  entropy_source: opt(str()),
  // Keys owned by the QEMU plugin (validated again by it): known here so typos fail at load time.
  /** Spare PCIe root ports for hotplug on q35. @default 4 */
  hotplug_ports: opt(int(0, 32)),
  /** QEMU -sandbox on; only insecure_disable_seccomp turns it off. @default true */
  seccomp: opt(v.boolean()),
  /** Turns QEMU's own seccomp filter off (`cocoon check` warns). @default false */
  insecure_disable_seccomp: opt(v.boolean()),
  /**
   * Runs QEMU and virtiofsd without the no-privileged-files seccomp filter (and virtiofsd with
   * `--sandbox none`): guest root can then make setuid files and device nodes on the host. @default false
   */
  insecure_unconfined: opt(v.boolean()),
  /**
   * Keeps QEMU root in the host's mount namespace instead of a uid of its own per VM in a
   * read-only mount namespace (`cocoon check` warns). @default false
   */
  insecure_run_as_root: opt(v.boolean()),
  /** The console log is trimmed to its last half past this size. @default 4194304 */
  console_log_max_bytes: opt(int(65536, 1 << 30)),
  /** TCG's translation buffer in MiB (`-accel tcg,tb-size=`); 0 = QEMU's default. @default 0 */
  tcg_tb_size_mib: opt(int(0, 4096)),
  /** A virtio-balloon with free page reporting: freed guest pages go back to the host. @default true */
  free_page_reporting: opt(v.boolean()),
  /** Guest RAM in a shared memfd (virtio-fs, templates). @default false */
  shared_memory: opt(v.boolean()),
  /** vsock port the agent listens on. @default 1024 */
  agent_vsock_port: opt(int(1, 65535)),
  /** ms to wait for QEMU to start and QMP to answer. @default 30000 */
  start_timeout_ms: opt(int(1, 3_600_000)),
});

export const AgentSchema = v.strictObject({
  /** @default false */
  enable_debug: opt(v.boolean()),
  /** Shell on a second virtio-serial port for debugging. @default false */
  debug_console_enabled: opt(v.boolean()),
  /** Modules loaded in the guest besides the built-in list. @default [] */
  kernel_modules: opt(strList()),
  /** Seconds to wait for the agent after boot. @default 45 */
  dial_timeout: opt(int(1, 3600)),
  /** "auto" = vsock where the host has vhost-vsock, else virtio-serial. @default "auto" */
  channel: opt(v.picklist(["auto", "virtio-serial", "vsock"])),
});

export const RuntimeSchema = v.strictObject({
  /** @default false */
  enable_debug: opt(v.boolean()),
  /** Active hypervisor table when several `[hypervisor.*]` exist. @default the only table */
  hypervisor: opt(str()),
  /** @default "tcfilter" */
  internetworking_model: opt(str()),
  /** @default false */
  disable_new_netns: opt(v.boolean()),
  /**
   * The pod's host processes (QEMU, virtiofsd) go only into the pod's cgroup, which must be named,
   * and Cocoon sets no limit of its own on it. @default false
   */
  sandbox_cgroup_only: opt(v.boolean()),
  /**
   * MiB over the VM's memory that its host processes may use: the memory limit Cocoon sets on
   * their cgroup when it has none. @default 512
   */
  vmm_memory_overhead_mib: opt(int(64, 1 << 20)),
  /** Seconds. @default 60 */
  create_container_timeout: opt(int(1, 86400)),
  /** Metadata store plugin. @default "fs" */
  store: opt(str()),
  /** Where sandboxes keep run-time state. @default "/run/cocoon" */
  state_dir: opt(str()),
  /** @default [] */
  experimental: opt(strList()),
  /** Runtime/agent keys that annotations may override. @default ["runtime.create_container_timeout","agent.enable_debug","agent.kernel_modules"] */
  enable_annotations: opt(strList()),
  /** More addresses of the management API of `cocoon daemon`/`cocoon sandboxer` (unix:///path, tcp://127.0.0.1:PORT); `<dir>/api.sock` is always served. @default [] */
  api_listen: opt(strList()),
  /** Let `api_listen` hold TCP addresses other than loopback (the token is then the only guard). @default false */
  api_listen_public: opt(v.boolean()),
  /** The bearer token file of TCP API listeners (0600; made when missing). @default "<state_dir>/api.token" */
  api_token_file: opt(str()),
  /** Directories a pod's own configuration file (containerd's ConfigPath) may come from: root's, no [plugins]. @default ["/etc/cocoon"] */
  pod_config_dirs: opt(strList()),
});

export const FactorySchema = v.strictObject({
  /** @default false */
  enable_template: opt(v.boolean()),
  /** @default "/run/cocoon/template" */
  template_path: opt(str()),
  /** @default 0 */
  vm_cache_number: opt(int(0, 1024)),
  /** @default "/run/cocoon/cache.sock" */
  vm_cache_endpoint: opt(str()),
});

const PluginsSchema = v.strictObject({
  /** Third-party plugins: name -> local module path or file URL (run confined in a Worker). */
  paths: opt(v.record(v.string(), v.string())),
  /** name -> "sha256:<hex>" of the module file: a plugin loads only when its file matches. */
  integrity: opt(v.record(v.string(), v.string())),
});

export const RawConfigSchema = v.strictObject({
  hypervisor: opt(v.record(v.string(), HypervisorSchema)),
  agent: opt(AgentSchema),
  runtime: opt(RuntimeSchema),
  factory: opt(FactorySchema),
  plugins: opt(PluginsSchema),
});

export type RawConfig = v.InferOutput<typeof RawConfigSchema>;
export type RawHypervisor = v.InferOutput<typeof HypervisorSchema>;

/** The effective hypervisor settings, every default filled in. */
export interface HypervisorConfig {
  readonly name: string;
  readonly path: string;
  readonly validHypervisorPaths: readonly string[];
  readonly kernel: string;
  readonly validKernelPaths: readonly string[];
  readonly initrd: string;
  readonly validInitrdPaths: readonly string[];
  readonly image: string;
  readonly validImagePaths: readonly string[];
  readonly kernelParams: string;
  readonly machineType: string;
  readonly accelerator: "auto" | "kvm" | "tcg";
  readonly cpuModel: string;
  readonly defaultVcpus: number;
  readonly defaultMaxVcpus: number;
  readonly defaultMemory: number;
  readonly defaultMaxMemory: number;
  readonly memorySlots: number;
  /** What the sandbox uses ("auto" is resolved: virtio-9p until `loadConfig` finds virtiofsd). */
  readonly sharedFs: "virtio-9p" | "virtio-fs" | "none";
  /** Set when `shared_fs = "auto"`: why it resolved the way it did (for check and logs). */
  readonly sharedFsAuto?: string;
  readonly virtioFsDaemon: string;
  readonly validVirtioFsDaemonPaths: readonly string[];
  readonly virtioFsCache: "auto" | "never" | "metadata" | "always";
  readonly virtioFsExtraArgs: readonly string[];
  readonly blockDeviceDriver: "virtio-blk" | "virtio-scsi" | "nvdimm";
  /** `disable_image_nvdimm`: the userland image on virtio-blk rather than a DAX-mapped virtio-pmem. */
  readonly disableImageNvdimm: boolean;
  readonly enableAnnotations: readonly string[];
  readonly enableDebug: boolean;
  readonly entropySource: string;
  /** The table handed to the hypervisor plugin: every key above in snake_case with defaults filled in, plus the plugin's own keys as written. */
  readonly raw: Readonly<Record<string, unknown>>;
}

export interface AgentConfig {
  readonly enableDebug: boolean;
  readonly debugConsoleEnabled: boolean;
  readonly kernelModules: readonly string[];
  readonly dialTimeoutSeconds: number;
  readonly channel: "auto" | "virtio-serial" | "vsock";
}

export interface RuntimeConfig {
  readonly enableDebug: boolean;
  readonly internetworkingModel: string;
  readonly disableNewNetns: boolean;
  readonly sandboxCgroupOnly: boolean;
  readonly vmmMemoryOverheadMiB: number;
  readonly createContainerTimeoutSeconds: number;
  readonly store: string;
  readonly stateDir: string;
  readonly experimental: readonly string[];
  readonly enableAnnotations: readonly string[];
  /** `[runtime] api_listen`. */
  readonly apiListen: readonly string[];
  readonly apiListenPublic: boolean;
  readonly apiTokenFile: string;
  readonly podConfigDirs: readonly string[];
}

export interface FactoryConfig {
  readonly enableTemplate: boolean;
  readonly templatePath: string;
  readonly vmCacheNumber: number;
  readonly vmCacheEndpoint: string;
}

/** Where each part of the configuration came from. */
export interface ConfigSource {
  readonly file: string; // path, or "builtin:configs/configuration-qemu.toml"
  readonly dropIns: readonly string[];
}

export interface ResolvedConfig {
  readonly source: ConfigSource;
  readonly hypervisor: HypervisorConfig;
  readonly agent: AgentConfig;
  readonly runtime: RuntimeConfig;
  readonly factory: FactoryConfig;
  readonly plugins: {
    readonly paths: Readonly<Record<string, string>>;
    readonly integrity: Readonly<Record<string, string>>;
  };
  /** The merged raw tree (for `cocoon env`). */
  readonly raw: RawConfig;
}
