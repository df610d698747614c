/**
 * What the sandbox core expects of a storage plugin beyond `StorageBackend` in plugins/types.ts:
 * optional sandbox-wide hooks. A shared-filesystem plugin (9p, virtio-fs) exports one host
 * directory to the guest at boot (`prepareSandbox`: QEMU cannot hotplug 9p) and later shares each
 * source by bind-mounting it into that directory, so `share` needs what `prepareSandbox` returned.
 * Plugins implement these structurally (they cannot import the core).
 *
 * A storage whose `driver` is {@link SHARED_DRIVER} needs no guest mount: it is already visible in
 * the guest at `source` (inside the sandbox share). Any other storage is mounted by the agent at
 * `mountPoint`.
 *
 * @module
 */
import type { Device, GuestStorage, OciMount, StorageBackend, Vm } from "../../plugins/types.ts";
import type { SandboxId } from "../ids.ts";

/** Driver of a storage visible through the sandbox share: nothing to mount in the guest. */
export const SHARED_DRIVER = "shared";

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

/** A storage plugin as the core uses it. */
export interface SandboxStorage extends StorageBackend {
  /** Host prerequisites (e.g. the virtiofsd binary); throws a RuntimeError naming what is missing. */
  check?(opts?: { signal?: AbortSignal }): Promise<void>;
  prepareSandbox?(opts: SandboxShareOptions): Promise<PreparedShare>;
  releaseSandbox?(prepared: PreparedShare, opts: SandboxShareOptions): Promise<void>;
  share(mount: OciMount, opts: ShareOptions): Promise<GuestStorage>;
  unshare(storage: GuestStorage, opts: UnshareOptions): Promise<void>;
}

/** The guest path where a storage is visible. */
export function guestPathOf(s: GuestStorage): string {
  return s.driver === SHARED_DRIVER ? s.source : s.mountPoint;
}
