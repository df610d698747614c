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
import type { GuestStorage, OciMount, PreparedShare, ShareOptions, UnshareOptions } from "../../types.ts";
import type { HostRunner } from "../../../runtime/sys/host_mount.ts";
import { createShareTree, removeShareTree, shareTreeState } from "../../../runtime/sys/share_tree.ts";
import {
  canShareBind,
  GUEST_SHARED_DIR,
  shareBeneath,
  SHARED_TAG,
  treeOf,
  unshareBeneath,
} from "../../../runtime/sys/shared_dir.ts";

/** @default 262144 */
export const DEFAULT_MSIZE = 262144;

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
    return canShareBind(mount);
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
    await removeShareTree(this.#runner, treeOf(prepared, "release the shared directory", "9p"));
  }

  async share(mount: OciMount, opts: ShareOptions): Promise<GuestStorage> {
    const tree = treeOf(opts.prepared, `share "${mount.source}"`, "9p");
    const storage = await shareBeneath(this.#runner, tree, mount, opts.guestPath);
    this.#log.debug("shared", { sandbox: opts.sandbox, source: mount.source, guest: storage.source });
    return storage;
  }

  async unshare(storage: GuestStorage, opts: UnshareOptions): Promise<void> {
    await unshareBeneath(
      this.#runner,
      treeOf(opts.prepared, `unshare "${storage.source}"`, "9p"),
      storage,
      "9p",
    );
  }
}
