/**
 * A minimal OCI spec for a container in the guest, used when the host sends none and by tests.
 *
 * Nested sandboxing: no seccomp profile is set and `noNewPrivileges` does not matter for
 * `unshare -U`, so an unprivileged user namespace can be created inside the container (the kernel
 * allows it when `user.max_user_namespaces` > 0, which Debian's kernel has by default; older RHEL
 * kernels need `user_namespace.enable=1` on the guest command line, passed through kernel_params).
 * A host-supplied spec that carries a seccomp profile is kept as sent: Docker/containerd default
 * profiles allow `unshare(CLONE_NEWUSER)` only with CAP_SYS_ADMIN, which is the caller's choice.
 *
 * @module
 */

export interface DefaultSpecOptions {
  readonly args: readonly string[];
  /** Absolute path of the root filesystem, or relative to the bundle. */
  readonly rootfs: string;
  readonly terminal?: boolean;
  readonly hostname?: string;
  readonly env?: readonly string[];
  readonly cwd?: string;
  /** `linux.resources` (omit for none: no device cgroup program is loaded then). */
  readonly resources?: Readonly<Record<string, unknown>>;
  readonly readonlyRootfs?: boolean;
}

const CAPS = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_FSETID",
  "CAP_FOWNER",
  "CAP_MKNOD",
  "CAP_NET_RAW",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETFCAP",
  "CAP_SETPCAP",
  "CAP_NET_BIND_SERVICE",
  "CAP_SYS_CHROOT",
  "CAP_KILL",
  "CAP_AUDIT_WRITE",
];

/** Builds the spec as a plain JSON object. Pure. */
export function defaultSpec(o: DefaultSpecOptions): Record<string, unknown> {
  return {
    ociVersion: "1.0.2",
    process: {
      terminal: o.terminal ?? false,
      user: { uid: 0, gid: 0 },
      args: [...o.args],
      env: [
        ...(o.env ?? ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"]),
      ],
      cwd: o.cwd ?? "/",
      capabilities: { bounding: CAPS, effective: CAPS, permitted: CAPS },
      noNewPrivileges: true,
    },
    root: { path: o.rootfs, readonly: o.readonlyRootfs ?? false },
    hostname: o.hostname ?? "cocoon",
    mounts: [
      { destination: "/proc", type: "proc", source: "proc" },
      {
        destination: "/dev",
        type: "tmpfs",
        source: "tmpfs",
        options: ["nosuid", "strictatime", "mode=755", "size=65536k"],
      },
      {
        destination: "/dev/pts",
        type: "devpts",
        source: "devpts",
        options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"],
      },
      {
        destination: "/dev/shm",
        type: "tmpfs",
        source: "shm",
        options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
      },
      {
        destination: "/dev/mqueue",
        type: "mqueue",
        source: "mqueue",
        options: ["nosuid", "noexec", "nodev"],
      },
      { destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"] },
      { destination: "/tmp", type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev", "mode=1777"] },
    ],
    linux: {
      namespaces: [{ type: "pid" }, { type: "ipc" }, { type: "uts" }, { type: "mount" }],
      ...(o.resources ? { resources: o.resources } : {}),
      maskedPaths: ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"],
      readonlyPaths: ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
    },
  };
}
