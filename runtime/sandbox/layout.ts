/**
 * Where a sandbox keeps things, on the host and in the guest. Pure.
 *
 * Host (`runtime.state_dir`, default /run/cocoon):
 * ```
 * <state_dir>/sandboxes/<sandbox-id>/        owned by the sandbox, removed by delete
 *   vm/                                      the VM's state dir: qmp.sock, agent.sock, qemu.pid
 *   console.log                              guest serial console
 *   shared/                                  9p / virtio-fs export (bind mounts of rootfs, volumes)
 *   virtiofsd/                               virtio-fs daemon socket and pid (virtio-fs only)
 * <state_dir>/store/                         fs metadata store (records of sandboxes and containers)
 * ```
 * (`sandboxes/` keeps sandbox ids from colliding with `store`, `template`, `cache.sock`.)
 *
 * Guest: the shared export is mounted at /run/cocoon/shared; storages that need a guest mount of
 * their own (block volumes) go under /run/cocoon/containers/<container-id>/.
 *
 * @module
 */
import { createHash } from "node:crypto";
import type { ContainerId, SandboxId } from "../ids.ts";

export function sandboxesRoot(stateDir: string): string {
  return `${stateDir.replace(/\/+$/, "")}/sandboxes`;
}

/**
 * The sandbox's host directory. Long ids (podman's and CRI's are 64 hex characters) are shortened to
 * `<first 12>-<16 hex of sha256(id)>`: the VM's unix sockets live below this directory and a socket
 * path must fit in 107 bytes, also under roots like /run/containerd/runc/<namespace>. The record
 * stores the directory, so nothing recomputes it.
 */
export function sandboxDir(stateDir: string, id: SandboxId): string {
  const name = id.length <= 32
    ? id
    : `${id.slice(0, 12)}-${createHash("sha256").update(id).digest("hex").slice(0, 16)}`;
  return `${sandboxesRoot(stateDir)}/${name}`;
}

export function vmStateDir(dir: string): string {
  return `${dir}/vm`;
}

export function consoleLogPath(dir: string): string {
  return `${dir}/console.log`;
}

const GUEST_CONTAINERS_DIR = "/run/cocoon/containers";

/** Guest path under which a container's storages are placed. */
function guestContainerDir(cid: ContainerId): string {
  return `${GUEST_CONTAINERS_DIR}/${cid}`;
}

export function guestRootfsPath(cid: ContainerId): string {
  return `${guestContainerDir(cid)}/rootfs`;
}

export function guestMountPath(cid: ContainerId, index: number): string {
  return `${guestContainerDir(cid)}/mounts/${index}`;
}
