/**
 * `NinePStorage`: one host directory per sandbox (`<sandbox dir>/shared`) exported over virtio-9p at
 * boot with the tag `cocoon-shared` and mounted by the agent at `/run/cocoon/shared`
 * (`trans=virtio,version=9p2000.L,msize=…,cache=mmap`). Sharing a source bind-mounts it (with its
 * submounts, made private) into that directory; the guest then sees it at once, with no hotplug.
 *
 * @module
 */
import { RuntimeError } from "../../../runtime/errors.ts";
import { deviceId, type SandboxId } from "../../../runtime/ids.ts";
import type { Logger } from "../../../runtime/log/logger.ts";
import type { Device, GuestStorage, OciMount, Vm } from "../../types.ts";
import { type HostRunner, pruneEmpty, unbind } from "../../../runtime/sys/host_mount.ts";
import {
  bindBeneath,
  createShareTree,
  isReadonlyMount,
  removeShareTree,
  requireShareTree,
  type ShareTree,
  shareTreeState,
} from "../../../runtime/sys/share_tree.ts";

export const SHARED_TAG = "cocoon-shared";
export const GUEST_SHARED_DIR = "/run/cocoon/shared";
/** Guest storage driver meaning "visible in the guest at `source`, nothing to mount". */
export const SHARED_DRIVER = "shared";
/** @default 262144 */
export const DEFAULT_MSIZE = 262144;

export interface PreparedShare {
  readonly devices: readonly Device[];
  readonly storages: readonly GuestStorage[];
  readonly state: Readonly<Record<string, unknown>>;
}

export interface NinePOptions {
  readonly runner: HostRunner;
  readonly log: Logger;
  readonly msize?: number;
}

/** Validates the plugin's config table: `msize` (bytes, 4096..4194304). */
export function parseNinePConfig(raw: Readonly<Record<string, unknown>>): { msize: number } {
  for (const k of Object.keys(raw)) {
    if (k !== "msize") {
      throw new RuntimeError(
        "InvalidArgument",
        `Invalid config key "storage.9p.${k}": it is unknown: use msize`,
      );
    }
  }
  const m = raw["msize"] ?? DEFAULT_MSIZE;
  if (typeof m !== "number" || !Number.isInteger(m) || m < 4096 || m > 4194304) {
    throw new RuntimeError(
      "InvalidArgument",
      `Invalid config key "storage.9p.msize": it must be an integer from 4096 to 4194304: current value is ${
        JSON.stringify(m)
      }`,
    );
  }
  return { msize: m };
}

/** The share tree recorded in a prepared share. */
export function treeOf(prepared: PreparedShare | undefined, what: string): ShareTree {
  return requireShareTree(prepared?.state, what, "9p");
}

/** Relative path below the share for a guest path: "/run/x/rootfs" -> "run/x/rootfs". Pure. */
export function shareKey(guestPath: string): string {
  const rel = guestPath.replace(/^\/+/, "").replace(/\/+$/, "");
  if (rel === "" || rel.split("/").some((s) => s === ".." || s === "." || s === "")) {
    throw new RuntimeError(
      "InvalidArgument",
      `Cannot share to guest path "${guestPath}": expected a clean absolute path`,
    );
  }
  return rel;
}

function isBind(m: OciMount): boolean {
  return m.type === "bind" || (m.options ?? []).some((o) => o === "bind" || o === "rbind");
}

export class NinePStorage {
  readonly #runner: HostRunner;
  readonly #log: Logger;
  readonly #msize: number;

  constructor(opts: NinePOptions) {
    this.#runner = opts.runner;
    this.#log = opts.log;
    this.#msize = opts.msize ?? DEFAULT_MSIZE;
  }

  /** Bind mounts of directories and files (not devices: the guest has its own /dev). */
  canHandle(mount: OciMount): boolean {
    if (!isBind(mount) || mount.source === undefined || !mount.source.startsWith("/")) return false;
    try {
      const st = Deno.statSync(mount.source);
      return st.isDirectory || st.isFile;
    } catch {
      return false;
    }
  }

  async prepareSandbox(opts: { sandbox: SandboxId; dir: string }): Promise<PreparedShare> {
    // the guest gets a read-only view of a host-only tree (runtime/sys/share_tree.ts)
    const tree = await createShareTree(this.#runner, opts.dir);
    return {
      devices: [{
        kind: "share-fs",
        id: deviceId("shared"),
        tag: SHARED_TAG,
        source: tree.exportDir,
        transport: "9p",
      }],
      storages: [{
        driver: "9p",
        source: SHARED_TAG,
        fstype: "9p",
        options: [`msize=${this.#msize}`, "cache=mmap"],
        mountPoint: GUEST_SHARED_DIR,
        devices: [],
      }],
      state: shareTreeState(tree),
    };
  }

  async releaseSandbox(prepared: PreparedShare): Promise<void> {
    await removeShareTree(this.#runner, treeOf(prepared, "release the shared directory"));
  }

  async share(
    mount: OciMount,
    opts: { sandbox: SandboxId; vm: Vm; guestPath: string; prepared?: PreparedShare },
  ): Promise<GuestStorage> {
    const source = mount.source;
    if (source === undefined) {
      throw new RuntimeError(
        "InvalidArgument",
        `Cannot share mount "${mount.destination}": it has no source`,
      );
    }
    const tree = treeOf(opts.prepared, `share "${source}"`);
    const key = shareKey(opts.guestPath);
    await bindBeneath(this.#runner, tree, { rel: key, source, readonly: isReadonlyMount(mount) });
    this.#log.debug("shared", { sandbox: opts.sandbox, source, key });
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
    const hostDir = treeOf(opts.prepared, `unshare "${storage.source}"`).hostDir;
    if (!storage.source.startsWith(`${GUEST_SHARED_DIR}/`)) {
      throw new RuntimeError(
        "InvalidArgument",
        `Cannot unshare "${storage.source}": it is not in the 9p share`,
      );
    }
    const key = shareKey(storage.source.slice(GUEST_SHARED_DIR.length));
    const target = `${hostDir}/${key}`;
    await unbind(this.#runner, target);
    await pruneEmpty(target.slice(0, target.lastIndexOf("/")), hostDir);
  }
}
