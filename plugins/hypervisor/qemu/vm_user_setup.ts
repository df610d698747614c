/**
 * What the host does before QEMU starts as a uid of its own (see ./vm_user_grants.ts): the VM's
 * state directory and console log become that uid's, the vhost-user sockets it connects to are
 * handed to it. The jail it returns (a new root holding only what QEMU needs, each at its host path)
 * is set up by the confinement loader (runtime/sys/seccomp/loader.ts).
 *
 * @module
 */
import { type Jail, JAIL_SYSTEM, NINE_P_CAPS } from "../../../runtime/sys/seccomp/loader.ts";
import type { VmUserGrants } from "./vm_layout.ts";

/** The empty directory QEMU's new root is mounted on (in its namespace only). Pure. */
export function jailRoot(stateDir: string): string {
  return `${stateDir.replace(/\/+$/, "")}/.root`;
}

function inside(path: string, dir: string): boolean {
  return path === dir || path.startsWith(`${dir.replace(/\/+$/, "")}/`);
}

/**
 * Hands the VM's files to `uid` and returns the jail QEMU runs in: its cwd and the only writable
 * places in its mount namespace are the state directory and the console log; it sees the system's
 * programs and libraries, the VM's kernel, initrd and disks, and (9p) the pod's export.
 */
export async function grantVmUser(
  uid: number,
  stateDir: string,
  consoleLog: string,
  g: VmUserGrants,
): Promise<Jail> {
  await Deno.chown(stateDir, uid, uid);
  await Deno.chmod(stateDir, 0o700);
  const f = await Deno.open(consoleLog, { create: true, append: true, mode: 0o600 });
  f.close();
  await Deno.chown(consoleLog, uid, uid);
  for (const s of g.sockets) await Deno.chown(s, uid, uid);
  const root = jailRoot(stateDir);
  await Deno.mkdir(root, { mode: 0o700 }).catch((e) => {
    if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
  });
  return {
    root,
    visible: [...JAIL_SYSTEM, ...g.files, ...g.sockets],
    user: { uid, gid: uid, groups: [...g.groups] },
    caps: g.shares.length > 0 ? NINE_P_CAPS : [],
    writable: inside(consoleLog, stateDir) ? [stateDir] : [stateDir, consoleLog],
    shares: [...g.shares],
    cwd: stateDir,
    taps: [...g.taps],
  };
}
