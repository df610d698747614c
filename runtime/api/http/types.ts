/**
 * What the management HTTP API serves, and the port its routes drive ({@link ApiBackend}). The
 * routes know nothing of records, QEMU or holders: `local_backend.ts` implements the port on this
 * host; tests use a fake.
 *
 * @module
 */
import type { ContainerStatus, ProcessStatus, SandboxStatus } from "../../sandbox/status.ts";

export type { ContainerStatus, ProcessStatus, SandboxStatus };

/**
 * Who acts on a sandbox. QEMU's QMP and agent sockets take one client at a time, so only the
 * process connected to them can pause, exec or delete; the API routes each action to it.
 */
export type SandboxOwner =
  /** An OCI-CLI container's holder: reached through its control socket. */
  | { readonly kind: "holder"; readonly pid: number; readonly socket: string }
  /** Another process holds the VM (`cocoon daemon`, a program using mod.ts), as its record says. */
  | {
    readonly kind: "process";
    readonly pid: number;
    readonly role: "daemon" | "program";
    readonly command: string;
    /** The daemon's API socket (front_door.ts): actions go there. */
    readonly api?: string;
  }
  /** This process holds it (the API is embedded in the front door that owns it): called directly. */
  | { readonly kind: "in-process"; readonly pid: number }
  /** Nobody holds the VM: the API fetches it for each action and releases it after. */
  | { readonly kind: "none" }
  /** The VM does not run: records only (delete remains). */
  | { readonly kind: "stopped" };

/** VMM process usage from /proc. */
export interface VmmUsage {
  /** utime + stime of the VMM processes, seconds. */
  readonly cpuSeconds: number;
  /** Resident set size, bytes. */
  readonly rssBytes: number;
  /** Proportional set size (smaps_rollup), bytes; null when unreadable. */
  readonly pssBytes: number | null;
}

/** A container as the API shows it. */
export interface ContainerView {
  readonly id: string;
  readonly sandboxId: string;
  readonly state: ContainerStatus;
  readonly createdAt: string;
  readonly rootfs: string;
  readonly bundle: string | null;
  readonly terminal: boolean;
  readonly execs: Readonly<Record<string, ProcessStatus>>;
}

/** A sandbox as the API shows it. */
export interface SandboxView {
  readonly id: string;
  readonly state: SandboxStatus;
  readonly createdAt: string;
  /** Seconds since the VM started (null unless ready or paused). */
  readonly uptimeSeconds: number | null;
  /** Seconds from creation to ready (null unless ready or paused). */
  readonly startSeconds: number | null;
  readonly hypervisor: string;
  readonly vcpus: number;
  readonly memoryMiB: number;
  readonly pids: readonly number[];
  readonly owner: SandboxOwner;
  /** Null when the VMM process is not running. */
  readonly vmm: VmmUsage | null;
  readonly containers: readonly ContainerView[];
}

/** Guest cgroup figures of one container, from the agent. */
export interface GuestStatsView {
  readonly containerId: string;
  readonly cpuSeconds: number | null;
  readonly memoryBytes: number | null;
  readonly memoryLimitBytes: number | null;
  readonly pids: number | null;
}

/** What `POST .../exec` runs. */
export interface ExecRequest {
  readonly args: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  readonly cwd?: string;
}

/** One line of the NDJSON body of `POST .../exec`. */
export type ExecEvent =
  | { readonly kind: "started"; readonly execId: string }
  | { readonly kind: "stdout"; readonly data: string }
  | { readonly kind: "stderr"; readonly data: string }
  | { readonly kind: "exit"; readonly status: number }
  | { readonly kind: "error"; readonly code: string; readonly message: string };

/** The port the routes drive. Every method throws RuntimeErrors; the app maps them once. */
export interface ApiBackend {
  list(): Promise<SandboxView[]>;
  get(id: string): Promise<SandboxView>;
  pause(id: string): Promise<void>;
  resume(id: string): Promise<void>;
  delete(id: string, opts: { force: boolean }): Promise<void>;
  containers(id: string): Promise<ContainerView[]>;
  container(id: string, cid: string): Promise<ContainerView>;
  deleteContainer(id: string, cid: string, opts: { force: boolean }): Promise<void>;
  /** Runs a process; the stream ends with an `exit` (or `error`) event. */
  exec(id: string, cid: string, req: ExecRequest, opts?: { signal?: AbortSignal }): Promise<
    AsyncIterable<ExecEvent>
  >;
  /** Guest cgroup stats of every running container, or null when the agent cannot be reached. */
  guestStats(id: string, opts?: { signal?: AbortSignal }): Promise<GuestStatsView[] | null>;
  /** The API socket of the live daemon that holds sandbox `id` (requests on it go there). */
  ownerApi?(id: string): Promise<string | undefined>;
}
