/**
 * `VirtioFsStorage`: like 9p, one host directory per sandbox (`<sandbox dir>/shared`) exported at
 * boot with the tag `cocoon-shared` and mounted at /run/cocoon/shared, but served by a virtiofsd
 * per sandbox over vhost-user (QEMU needs shared guest memory, which the qemu plugin enables for a
 * virtio-fs device). Sources are bind-mounted into the export; virtiofsd runs with `--sandbox none`
 * so it sees them.
 *
 * @module
 */
import { RuntimeError } from "../../../runtime/errors.ts";
import { deviceId, type SandboxId } from "../../../runtime/ids.ts";
import type { Logger } from "../../../runtime/log/logger.ts";
import type { GuestStorage, OciMount, PreparedShare, ShareOptions, UnshareOptions } from "../../types.ts";
import type { HostRunner } from "../../../runtime/sys/host_mount.ts";
import { removeTree } from "../../../runtime/sys/safe_remove.ts";
import { prepareConfinement } from "../../../runtime/sys/seccomp/confine.ts";
import { createShareTree, removeShareTree, shareTreeState } from "../../../runtime/sys/share_tree.ts";
import {
  canShareBind,
  GUEST_SHARED_DIR,
  shareBeneath,
  SHARED_TAG,
  treeOf,
  unshareBeneath,
} from "../../../runtime/sys/shared_dir.ts";
import {
  findVirtiofsd,
  startVirtiofsd,
  stopVirtiofsd,
  type VirtiofsdCommand,
} from "../../../runtime/sys/virtiofsd.ts";

export interface VirtioFsConfig {
  /** virtiofsd command line (first word the binary). @default "/usr/libexec/virtiofsd" */
  readonly daemon: string;
  /** @default "auto" */
  readonly cache: "auto" | "never" | "metadata" | "always";
  readonly extraArgs: readonly string[];
  /** Private install root searched after `daemon`. @default "/var/cache/cocoon/virtiofsd" */
  readonly installRoot?: string;
  /**
   * `insecure_unconfined = true`: virtiofsd with `--sandbox none` and no seccomp filter of ours
   * (guest root can then make setuid files and device nodes on the host). @default false
   */
  readonly unconfined?: boolean;
}

/** Validates the plugin table: `daemon`, `cache`, `extra_args`, `install_root`. */
export function parseVirtioFsConfig(raw: Readonly<Record<string, unknown>>): VirtioFsConfig {
  const bad = (k: string, why: string) =>
    new RuntimeError(
      "InvalidArgument",
      `Invalid config key "storage.virtio-fs.${k}": it ${why}: current value is ${JSON.stringify(raw[k])}`,
    );
  for (const k of Object.keys(raw)) {
    if (!["daemon", "cache", "extra_args", "install_root", "insecure_unconfined"].includes(k)) {
      throw bad(k, "is unknown");
    }
  }
  const daemon = raw["daemon"] ?? "/usr/libexec/virtiofsd";
  if (typeof daemon !== "string") throw bad("daemon", "must be a string");
  const cache = raw["cache"] ?? "auto";
  if (cache !== "auto" && cache !== "never" && cache !== "metadata" && cache !== "always") {
    throw bad("cache", 'must be "auto", "never", "metadata" or "always"');
  }
  const extra = raw["extra_args"] ?? [];
  if (!Array.isArray(extra) || !extra.every((x) => typeof x === "string")) {
    throw bad("extra_args", "must be a list of strings");
  }
  const root = raw["install_root"];
  if (root !== undefined && (typeof root !== "string" || !root.startsWith("/"))) {
    throw bad("install_root", "must be an absolute path");
  }
  const unconfined = raw["insecure_unconfined"] ?? false;
  if (typeof unconfined !== "boolean") throw bad("insecure_unconfined", "must be a boolean");
  return {
    daemon,
    cache,
    extraArgs: extra,
    ...(root !== undefined ? { installRoot: root } : {}),
    ...(unconfined ? { unconfined } : {}),
  };
}

export class VirtioFsStorage {
  readonly #runner: HostRunner;
  readonly #log: Logger;
  readonly #config: VirtioFsConfig;

  constructor(opts: { runner: HostRunner; log: Logger; config: VirtioFsConfig }) {
    this.#runner = opts.runner;
    this.#log = opts.log;
    this.#config = opts.config;
  }

  /** @throws {RuntimeError} `FailedPrecondition` when no virtiofsd runs here. */
  async check(): Promise<void> {
    await this.#daemon();
  }

  #daemon(): Promise<VirtiofsdCommand> {
    return findVirtiofsd(this.#config.daemon, this.#config.installRoot);
  }

  canHandle(mount: OciMount): boolean {
    return canShareBind(mount);
  }

  async prepareSandbox(opts: { sandbox: SandboxId; dir: string }): Promise<PreparedShare> {
    const cmd = await this.#daemon();
    // the guest gets a read-only view of a host-only tree (runtime/sys/share_tree.ts)
    const tree = await createShareTree(this.#runner, opts.dir);
    const confine = this.#config.unconfined === true
      ? undefined
      : await prepareConfinement(`${opts.dir}/virtiofsd`, "storage.virtio-fs.insecure_unconfined");
    const d = await startVirtiofsd(cmd, {
      ...(confine !== undefined ? { confine } : {}),
      sharedDir: tree.exportDir,
      runDir: `${opts.dir}/virtiofsd`,
      cache: this.#config.cache,
      extraArgs: this.#config.extraArgs,
    });
    this.#log.info("virtiofsd started", { sandbox: opts.sandbox, pid: d.pid, version: cmd.version });
    return {
      devices: [{
        kind: "share-fs",
        id: deviceId("shared"),
        tag: SHARED_TAG,
        source: tree.exportDir,
        transport: "virtio-fs",
        socket: d.socket,
      }],
      storages: [{
        driver: "virtio-fs",
        source: SHARED_TAG,
        fstype: "virtiofs",
        options: [],
        mountPoint: GUEST_SHARED_DIR,
        devices: [],
      }],
      state: { ...shareTreeState(tree), pid: d.pid, socket: d.socket, runDir: `${opts.dir}/virtiofsd` },
    };
  }

  async releaseSandbox(prepared: PreparedShare): Promise<void> {
    const tree = treeOf(prepared, "release the shared directory", "virtio-fs");
    const { pid, socket, runDir } = prepared.state;
    if (typeof pid === "number" && typeof socket === "string") await stopVirtiofsd({ pid, socket });
    await removeShareTree(this.#runner, tree);
    if (typeof runDir === "string") await removeTree(runDir, this.#runner);
  }

  async share(mount: OciMount, opts: ShareOptions): Promise<GuestStorage> {
    const tree = treeOf(opts.prepared, `share "${mount.source}"`, "virtio-fs");
    return await shareBeneath(this.#runner, tree, mount, opts.guestPath);
  }

  async unshare(storage: GuestStorage, opts: UnshareOptions): Promise<void> {
    const tree = treeOf(opts.prepared, `unshare "${storage.source}"`, "virtio-fs");
    await unshareBeneath(this.#runner, tree, storage, "virtio-fs");
  }
}
