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
import type { Device, GuestStorage, OciMount, Vm } from "../../types.ts";
import {
  bindInto,
  type HostRunner,
  mountsUnder,
  pruneEmpty,
  unbind,
} from "../../../runtime/sys/host_mount.ts";
import {
  findVirtiofsd,
  startVirtiofsd,
  stopVirtiofsd,
  type VirtiofsdCommand,
} from "../../../runtime/sys/virtiofsd.ts";
import { removeTree } from "../../../runtime/sys/safe_remove.ts";

export const SHARED_TAG = "cocoon-shared";
export const GUEST_SHARED_DIR = "/run/cocoon/shared";
export const SHARED_DRIVER = "shared";

export interface PreparedShare {
  readonly devices: readonly Device[];
  readonly storages: readonly GuestStorage[];
  readonly state: Readonly<Record<string, unknown>>;
}

export interface VirtioFsConfig {
  /** virtiofsd command line (first word the binary). @default "/usr/libexec/virtiofsd" */
  readonly daemon: string;
  /** @default "auto" */
  readonly cache: "auto" | "never" | "metadata" | "always";
  readonly extraArgs: readonly string[];
  /** Private install root searched after `daemon`. @default "/var/cache/cocoon/virtiofsd" */
  readonly installRoot?: string;
}

/** Validates the plugin table: `daemon`, `cache`, `extra_args`, `install_root`. */
export function parseVirtioFsConfig(raw: Readonly<Record<string, unknown>>): VirtioFsConfig {
  const bad = (k: string, why: string) =>
    new RuntimeError(
      "InvalidArgument",
      `Invalid config key "storage.virtio-fs.${k}": it ${why}: current value is ${JSON.stringify(raw[k])}`,
    );
  for (const k of Object.keys(raw)) {
    if (!["daemon", "cache", "extra_args", "install_root"].includes(k)) throw bad(k, "is unknown");
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
  return { daemon, cache, extraArgs: extra, ...(root !== undefined ? { installRoot: root } : {}) };
}

function hostDirOf(prepared: PreparedShare | undefined, what: string): string {
  const dir = prepared?.state["hostDir"];
  if (typeof dir !== "string" || !dir.startsWith("/")) {
    throw new RuntimeError(
      "FailedPrecondition",
      `Cannot ${what}: the sandbox has no virtio-fs shared directory`,
    );
  }
  return dir;
}

function shareKey(guestPath: string): string {
  const rel = guestPath.replace(/^\/+/, "").replace(/\/+$/, "");
  if (rel === "" || rel.split("/").some((s) => s === ".." || s === "." || s === "")) {
    throw new RuntimeError(
      "InvalidArgument",
      `Cannot share to guest path "${guestPath}": expected a clean absolute path`,
    );
  }
  return rel;
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
    const isBind = mount.type === "bind" || (mount.options ?? []).some((o) => o === "bind" || o === "rbind");
    if (!isBind || mount.source === undefined || !mount.source.startsWith("/")) return false;
    try {
      const st = Deno.statSync(mount.source);
      return st.isDirectory || st.isFile;
    } catch {
      return false;
    }
  }

  async prepareSandbox(opts: { sandbox: SandboxId; dir: string }): Promise<PreparedShare> {
    const cmd = await this.#daemon();
    const hostDir = `${opts.dir}/shared`;
    // 0711: in the guest this is the share's root, and a container in a user namespace (its root
    // mapped to another uid) must be able to pass through it to its rootfs; the sandbox directory
    // above stays 0700 on the host.
    await Deno.mkdir(hostDir, { recursive: true, mode: 0o711 });
    await Deno.chmod(hostDir, 0o711);
    const d = await startVirtiofsd(cmd, {
      sharedDir: hostDir,
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
        source: hostDir,
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
      state: { hostDir, pid: d.pid, socket: d.socket, runDir: `${opts.dir}/virtiofsd` },
    };
  }

  async releaseSandbox(prepared: PreparedShare): Promise<void> {
    const hostDir = hostDirOf(prepared, "release the shared directory");
    const { pid, socket, runDir } = prepared.state;
    if (typeof pid === "number" && typeof socket === "string") await stopVirtiofsd({ pid, socket });
    for (const mp of await mountsUnder(hostDir, this.#runner)) await unbind(this.#runner, mp);
    if ((await mountsUnder(hostDir, this.#runner)).length > 0) {
      throw new RuntimeError(
        "Internal",
        `Cannot remove shared directory "${hostDir}": mounts remain below it`,
      );
    }
    for (const d of [hostDir, typeof runDir === "string" ? runDir : undefined]) {
      if (d === undefined) continue;
      await removeTree(d, this.#runner);
    }
  }

  async share(
    mount: OciMount,
    opts: { sandbox: SandboxId; vm: Vm; guestPath: string; prepared?: PreparedShare },
  ): Promise<GuestStorage> {
    if (mount.source === undefined) {
      throw new RuntimeError(
        "InvalidArgument",
        `Cannot share mount "${mount.destination}": it has no source`,
      );
    }
    const hostDir = hostDirOf(opts.prepared, `share "${mount.source}"`);
    const key = shareKey(opts.guestPath);
    await bindInto(this.#runner, mount.source, `${hostDir}/${key}`);
    const guest = `${GUEST_SHARED_DIR}/${key}`;
    return {
      driver: SHARED_DRIVER,
      source: guest,
      fstype: "none",
      options: [],
      mountPoint: guest,
      devices: [],
    };
  }

  async unshare(storage: GuestStorage, opts: { vm: Vm; prepared?: PreparedShare }): Promise<void> {
    const hostDir = hostDirOf(opts.prepared, `unshare "${storage.source}"`);
    if (!storage.source.startsWith(`${GUEST_SHARED_DIR}/`)) {
      throw new RuntimeError(
        "InvalidArgument",
        `Cannot unshare "${storage.source}": it is not in the virtio-fs share`,
      );
    }
    const target = `${hostDir}/${shareKey(storage.source.slice(GUEST_SHARED_DIR.length))}`;
    await unbind(this.#runner, target);
    await pruneEmpty(target.slice(0, target.lastIndexOf("/")), hostDir);
  }
}
