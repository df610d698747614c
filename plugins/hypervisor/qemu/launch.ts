/**
 * The argv that starts QEMU: `setsid` (its own session, so it outlives the starting process), then
 * `nsenter --net=<netns> --` when the VM joins a pod's network namespace (its taps are opened by
 * name there), then a `sh` that opens macvtap character devices on the descriptors QEMU inherits
 * (`-netdev tap,fd=N`), then the loader of the no-privileged-files seccomp filter when confined
 * (runtime/sys/seccomp), which also jails QEMU (its own uid, a read-only mount namespace). Each of them execs the next in place, so the spawned pid is QEMU's. Pure.
 *
 * @module
 */
import { confinedArgv, type Confinement } from "../../../runtime/sys/seccomp/confine.ts";
import type { Jail } from "../../../runtime/sys/seccomp/loader.ts";

/** A character device QEMU inherits open read-write on `fd`. */
export interface InheritedFd {
  readonly fd: number;
  readonly path: string;
}

/** What to run around QEMU's own argv. */
export interface QemuLaunchWrap {
  readonly binary: string;
  readonly args: readonly string[];
  /** Network namespace path or name (`/var/run/netns/<name>`) to run QEMU in. */
  readonly netns?: string;
  readonly fds?: readonly InheritedFd[];
  /** Run QEMU with this seccomp filter loaded. */
  readonly confine?: Confinement;
  /** The jail the loader sets up around QEMU (needs `confine`). */
  readonly jail?: Jail;
}

/** The netns argument of nsenter: a bare name means `/var/run/netns/<name>`. */
export function netnsPath(netns: string): string {
  return netns.includes("/") ? netns : `/var/run/netns/${netns}`;
}

/** Program and arguments to spawn. */
export function launchArgv(w: QemuLaunchWrap): { program: string; args: string[] } {
  let argv = [w.binary, ...w.args];
  const fds = w.fds ?? [];
  if (w.confine !== undefined) argv = confinedArgv(w.confine, argv, w.jail);
  if (fds.length > 0) {
    // sh -c 'exec 3<>"$1"; shift; exec 4<>"$1"; shift; exec "$@"' sh <node3> <node4> qemu ...
    const opens = fds.map((f) => `exec ${f.fd}<>"$1"; shift; `).join("");
    argv = ["sh", "-c", `${opens}exec "$@"`, "sh", ...fds.map((f) => f.path), ...argv];
  }
  if (w.netns !== undefined) argv = ["nsenter", `--net=${netnsPath(w.netns)}`, "--", ...argv];
  return { program: "setsid", args: argv };
}
