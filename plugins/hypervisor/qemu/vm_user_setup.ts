/**
 * What the host does before QEMU starts as a uid of its own (see ./vm_user_grants.ts): the console
 * log and the vhost-user sockets it connects to become that uid's. Its state directory stays
 * root's: the launcher binds QEMU's listening sockets there and QEMU inherits them, so a VMM a
 * guest took over cannot put a link where the host will connect. The jail it returns (a new root holding only what QEMU needs, each at its host path)
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

/**
 * Hands the VM's files to `uid` and returns the jail QEMU runs in: the only writable place in its
 * mount namespace is the console log (and, 9p, the pod's writable binds); it sees the system's
 * programs and libraries, the VM's kernel, initrd and disks, and (9p) the pod's export.
 */
export async function grantVmUser(
  uid: number,
  stateDir: string,
  consoleLog: string,
  g: VmUserGrants,
): Promise<Jail> {
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
    writable: [consoleLog],
    shares: [...g.shares],
    taps: [...g.taps],
    listen: [...(g.listen ?? [])],
  };
}
