/**
 * What the Cocoon core itself needs, beside its plugins' manifests. `compile.sh` grants the union of
 * these and every built-in plugin's manifest (`cocoon plugins --allow-flags`), never `-A`.
 *
 * - read/write: OCI bundles, rootfs and state live wherever the caller (podman, containerd) puts them.
 * - run: the tools the core drives directly (guest image build, networking set-up, self re-exec
 *   for the sandbox holder and daemon), plus each plugin's own list.
 * - ffi: libc for prctl(PR_SET_CHILD_SUBREAPER), SCM_RIGHTS (console socket), ioctl(TIOCSWINSZ).
 * - net: the HTTP management API and the gRPC sandboxer on TCP when configured.
 * - env, sys: configuration lookup, hostname, load average and memory for `check` and metrics.
 *
 * @module
 */
export const CORE_PERMISSIONS: Deno.PermissionOptionsObject = {
  read: true,
  write: true,
  env: true,
  sys: true,
  ffi: true,
  net: true,
  run: [
    "apt-get",
    "dpkg-deb",
    "depmod",
    "mkfs.erofs",
    "cpio",
    "gzip",
    "ip",
    "tc",
    "nsenter",
    "mount",
    "umount",
    "ldd",
    "containerd",
    "ctr",
    "runc",
    "crun",
    "podman",
    "cocoon",
  ],
};

/** The guest agent runs as root inside the VM and drives crun/runc, mounts and networking there. */
export const AGENT_PERMISSIONS: Deno.PermissionOptionsObject = {
  read: true,
  write: true,
  env: true,
  sys: true,
  ffi: true,
  net: true,
  run: true,
};
