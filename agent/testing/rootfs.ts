/**
 * Test helpers: a busybox-static root filesystem in a temp dir, and the OCI runtimes usable on the
 * current host. On a hybrid cgroup host (v1 controllers + v2 at /sys/fs/cgroup/unified) crun 1.8
 * refuses to run, so it is started in a private mount namespace where /sys/fs/cgroup is the cgroup2
 * hierarchy alone; runc handles v1 as is. In the guest (pure v2) crun runs plain.
 *
 * @module
 */
import type { OciRuntime } from "../container/env.ts";

const APPLETS = [
  "sh",
  "echo",
  "cat",
  "sleep",
  "true",
  "false",
  "kill",
  "ls",
  "id",
  "unshare",
  "stty",
  "tty",
  "ps",
  "head",
  "mkdir",
  "env",
  "yes",
  "dd",
  "wc",
];

/** Creates `<dir>/rootfs` with /bin/busybox and applet links. Returns the rootfs path. */
export async function makeBusyboxRootfs(dir: string): Promise<string> {
  const rootfs = `${dir}/rootfs`;
  await Deno.mkdir(`${rootfs}/bin`, { recursive: true });
  for (const d of ["proc", "dev", "sys", "tmp", "etc", "root"]) {
    await Deno.mkdir(`${rootfs}/${d}`, { recursive: true });
  }
  await Deno.copyFile("/bin/busybox", `${rootfs}/bin/busybox`);
  await Deno.chmod(`${rootfs}/bin/busybox`, 0o755);
  for (const a of APPLETS) await Deno.symlink("busybox", `${rootfs}/bin/${a}`);
  await Deno.writeTextFile(`${rootfs}/etc/passwd`, "root:x:0:0:root:/root:/bin/sh\n");
  return rootfs;
}

function isFile(p: string): boolean {
  try {
    return Deno.statSync(p).isFile;
  } catch {
    return false;
  }
}

/** True on hybrid cgroup hosts (no cgroup.controllers at the root, a cgroup2 at unified/). */
export function hybridCgroups(): boolean {
  return !isFile("/sys/fs/cgroup/cgroup.controllers") && isFile("/sys/fs/cgroup/unified/cgroup.controllers");
}

/** The runtimes available here, each with its own state root under `rootDir`. */
export function hostRuntimes(rootDir: string): OciRuntime[] {
  const out: OciRuntime[] = [];
  if (isFile("/usr/bin/crun")) {
    const argv = hybridCgroups()
      ? [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        'mount -t cgroup2 cgroup2 /sys/fs/cgroup && exec /usr/bin/crun "$@"',
        "crun",
      ]
      : ["/usr/bin/crun"];
    out.push({ kind: "crun", argv, root: `${rootDir}/crun` });
  }
  if (isFile("/usr/bin/runc") || isFile("/usr/sbin/runc")) {
    out.push({
      kind: "runc",
      argv: [isFile("/usr/bin/runc") ? "/usr/bin/runc" : "/usr/sbin/runc"],
      root: `${rootDir}/runc`,
    });
  }
  return out;
}
