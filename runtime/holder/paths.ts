/**
 * Where the OCI front door keeps a container's host-side state, under the state root (`--root`,
 * else `runtime.state_dir`):
 * ```
 * <root>/oci/<id>/holder.json        the holder's pid, start time, socket, bundle (written when ready)
 * <root>/oci/<id>/ctl.sock           the holder's control socket
 * <root>/oci/<id>/create-error.json  why the holder could not create the container
 * <root>/oci/<id>/holder.log         the holder's log when no --log is given
 * <root>/oci/<id>/cgroups.json       the host cgroup directories the holder made and joined
 * ```
 * The sandbox itself (VM, shares, records) lives under `<root>/sandboxes/` and `<root>/store/`, as
 * the sandbox core lays it out. Pure.
 *
 * @module
 */
import type { ContainerId } from "../ids.ts";

export interface OciPaths {
  readonly dir: string;
  readonly socket: string;
  readonly info: string;
  readonly error: string;
  readonly log: string;
}

export function ociRoot(stateDir: string): string {
  return `${stateDir.replace(/\/+$/, "")}/oci`;
}

/** FNV-1a, 32 bits, as 8 hex digits (short socket names; not for security). */
function fnv(s: string): string {
  let h = 0x811c9dc5;
  for (const b of new TextEncoder().encode(s)) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h.toString(16).padStart(8, "0");
}

export function ociPaths(stateDir: string, id: ContainerId): OciPaths {
  const dir = `${ociRoot(stateDir)}/${id}`;
  let socket = `${dir}/ctl.sock`;
  // sun_path holds 107 bytes: long roots or ids get a short name beside the state root.
  if (new TextEncoder().encode(socket).length > 107) {
    socket = `/run/cocoon-ctl-${fnv(dir)}${fnv(`${dir}/`)}.sock`;
  }
  return {
    dir,
    socket,
    info: `${dir}/holder.json`,
    error: `${dir}/create-error.json`,
    log: `${dir}/holder.log`,
  };
}

/** Where the holder records the host cgroup directories it made (removed by delete). */
export function cgroupsRecord(paths: OciPaths): string {
  return `${paths.dir}/cgroups.json`;
}
