/**
 * What the shared-filesystem storage plugins (9p, virtio-fs) have in common: one host directory
 * per sandbox (a share tree, share_tree.ts) exported at boot with the tag `cocoon-shared` and
 * mounted by the agent at `/run/cocoon/shared`; sharing a source bind-mounts it beneath that tree at
 * a key taken from its guest path, and the guest sees it at once. Only the transport (the device,
 * the guest mount, a virtiofsd) differs between the plugins.
 *
 * @module
 */
import { type GuestStorage, type OciMount, SHARED_DRIVER } from "../../plugins/types.ts";
import { RuntimeError } from "../errors.ts";
import { type HostRunner, pruneEmpty, unbind } from "./host_mount.ts";
import { bindBeneath, isReadonlyMount, requireShareTree, type ShareTree } from "./share_tree.ts";

export const SHARED_TAG = "cocoon-shared";
export const GUEST_SHARED_DIR = "/run/cocoon/shared";

/** The share tree recorded in a prepared share's state. @throws {RuntimeError} when it is missing. */
export function treeOf(
  prepared: { readonly state: Readonly<Record<string, unknown>> } | undefined,
  what: string,
  plugin: string,
): ShareTree {
  return requireShareTree(prepared?.state, what, plugin);
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

/** Bind mounts of directories and files (not devices: the guest has its own /dev). */
export function canShareBind(mount: OciMount): boolean {
  const bind = mount.type === "bind" || (mount.options ?? []).some((o) => o === "bind" || o === "rbind");
  if (!bind || mount.source === undefined || !mount.source.startsWith("/")) return false;
  try {
    const st = Deno.statSync(mount.source);
    return st.isDirectory || st.isFile;
  } catch {
    return false;
  }
}

/** Bind-mounts `mount`'s source beneath `tree` at `guestPath`'s key; the storage as the guest sees it. */
export async function shareBeneath(
  r: HostRunner,
  tree: ShareTree,
  mount: OciMount,
  guestPath: string,
): Promise<GuestStorage> {
  if (mount.source === undefined) {
    throw new RuntimeError("InvalidArgument", `Cannot share mount "${mount.destination}": it has no source`);
  }
  const key = shareKey(guestPath);
  await bindBeneath(r, tree, { rel: key, source: mount.source, readonly: isReadonlyMount(mount) });
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

/** Undoes {@link shareBeneath}: unmounts the source and prunes the directories it left empty. */
export async function unshareBeneath(
  r: HostRunner,
  tree: ShareTree,
  storage: GuestStorage,
  plugin: string,
): Promise<void> {
  if (!storage.source.startsWith(`${GUEST_SHARED_DIR}/`)) {
    throw new RuntimeError(
      "InvalidArgument",
      `Cannot unshare "${storage.source}": it is not in the ${plugin} share`,
    );
  }
  const target = `${tree.hostDir}/${shareKey(storage.source.slice(GUEST_SHARED_DIR.length))}`;
  await unbind(r, target);
  await pruneEmpty(target.slice(0, target.lastIndexOf("/")), tree.hostDir);
}
