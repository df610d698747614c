/**
 * The domain types of the library API (`mod.ts`): what a program passes in and gets back. No
 * generated protocol type appears here; records and statuses are the sandbox core's own.
 *
 * @module
 */
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
  /** Aborts the call (boot, agent connection). */
  readonly signal?: AbortSignal;
  /** The host daemon's directory, for sandboxes it keeps (default `$COCOON_DAEMON_DIR`, else /run/cocoon/daemon). */
  readonly daemonDir?: string;
  /** The cocoon program that runs that daemon when none runs (default `$COCOON_SELF`, else `cocoon` on PATH). */
  readonly daemonProgram?: string;
}

/** What {@link createSandbox} makes. Every field is optional. */
export interface SandboxConfig extends ConnectOptions {
  /** Sandbox id (1-128 of letters, digits, `_+-.`); a random `sb-xxxxxxxx` when absent. */
  readonly id?: string;
  /**
   * Who holds the sandbox when this program does not: "program" (default) leaves it to nobody
   * until a program fetches it; "daemon" hands it to the host's `cocoon daemon` at
   * {@link Sandbox.release} (and the daemon takes it over if the program dies holding it), so that
   * it has an owner for its whole life: the daemon's management API acts on it, a restarted daemon
   * adopts it, and {@link fetchSandbox} borrows it back.
   */
  readonly owner?: "program" | "daemon";
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
  /**
   * Called as each host step of the start ends (`"VM started"`, `"agent connected"`, ...): what
   * `cocoon waterfall` draws.
   */
  readonly onStage?: (stage: string) => void;
}

/** A sandbox as the store knows it. */
export interface SandboxInfo {
  /** The sandbox id. */
  readonly id: string;
  /** `creating`, `ready`, `paused` or `stopped`, with times (ISO-8601). */
  readonly state: SandboxStatus;
  /** When it was created (ISO-8601). */
  readonly createdAt: string;
  /** The hypervisor plugin that runs its VM (`qemu`). */
  readonly hypervisor: string;
  /** vCPUs at boot. */
  readonly vcpus: number;
  /** Guest memory at boot, MiB. */
  readonly memoryMiB: number;
  /** Host pids of the VM; empty when it is not running. */
  readonly pids: readonly number[];
  /** The annotations it was created with. */
  readonly annotations: Readonly<Record<string, string>>;
  /** Its containers. */
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
  /** The container id. */
  readonly id: string;
  /** The sandbox that holds it. */
  readonly sandboxId: string;
  /** `creating`, `created`, `running`, `paused` or `stopped` (with the exit status). */
  readonly state: ContainerStatus;
  /** Host path of its root filesystem, as given. */
  readonly rootfs: string;
  /** When it was created (ISO-8601). */
  readonly createdAt: string;
  /** Whether its init has a terminal. */
  readonly terminal: boolean;
  /** The annotations of its OCI spec. */
  readonly annotations: Readonly<Record<string, string>>;
  /** Exec'd processes by id. */
  readonly processes: Readonly<Record<string, ProcessStatus>>;
}

/** A process to run in a running container ({@link Sandbox.enterContainer}). */
export interface ProcessConfig {
  /** Process id within the container; a random `exec-xxxxxxxx` when absent. */
  readonly id?: string;
  /** The program and its arguments. */
  readonly args: readonly string[];
  /** Extra environment, added to `PATH` and `TERM`. */
  readonly env?: Readonly<Record<string, string>>;
  /** Working directory (default `/`). */
  readonly cwd?: string;
  /** Give the process a terminal. */
  readonly terminal?: boolean;
  /** Open a stdin pipe (default false). */
  readonly stdin?: boolean;
  /** uid and gid (default 0). */
  readonly user?: { readonly uid: number; readonly gid: number };
}

/** A terminal size in character cells. */
export interface WindowSize {
  /** Lines, 1-65535. */
  readonly rows: number;
  /** Columns, 1-65535. */
  readonly columns: number;
}

/** The stdio of a process as Web Streams. Closing `stdin` sends EOF. */
export interface ProcessStreams {
  /** Bytes to the process (when it was given a stdin pipe); `close()` sends EOF. */
  readonly stdin: WritableStream<Uint8Array>;
  /** The process's standard output (its terminal output when it has one); ends at exit. */
  readonly stdout: ReadableStream<Uint8Array>;
  /** The process's standard error; ends at exit. */
  readonly stderr: ReadableStream<Uint8Array>;
}

/** A device to hot-plug ({@link Sandbox.addDevice}). */
export interface BlockDeviceConfig {
  /** The only kind for now. */
  readonly kind: "block";
  /** Device id (default: a random `blk-xxxxxxxx`). */
  readonly id?: string;
  /** Absolute host path: a block device or a raw image file. */
  readonly path: string;
  /** Plug it read-only (default false). */
  readonly readOnly?: boolean;
  /** Default: `block_device_driver` of the configuration. */
  readonly driver?: "virtio-blk" | "virtio-scsi";
}

/** A device to hot-plug; a union on `kind` as more kinds come. */
export type DeviceConfig = BlockDeviceConfig;

/** What {@link Sandbox.monitor} yields: the core's events (runtime/sandbox/events.ts). */
export type { SandboxEvent } from "../../sandbox/events.ts";

/** The hot-plug and guest network shapes are the core's (one definition each). */
export type {
  GuestInterface as NetworkInterface,
  GuestRoute as Route,
  IpAddress,
} from "../../agent_client/types.ts";
export type { PluggedBlock as DeviceInfo } from "../../sandbox/records.ts";
export type { PlugNic as InterfaceConfig } from "../../sandbox/hotplug.ts";
