/**
 * What the host does before QEMU starts as a uid of its own (see ./vm_user_grants.ts): the VM's
 * state directory and console log become that uid's, the vhost-user sockets it connects to are
 * handed to it, and the directories on the way to them (Cocoon's own) become searchable by its
 * group alone. The jail it returns is set up by the confinement loader (runtime/sys/seccomp/loader.ts).
 *
 * @module
 */
import { dirname } from "node:path";
import { type Jail, NINE_P_CAPS } from "../../../runtime/sys/seccomp/loader.ts";
import type { VmUserGrants } from "./vm_layout.ts";

/** Lets `gid` search directory `dir` when others cannot (it becomes group `gid`, mode g+x). */
async function letSearch(dir: string, gid: number): Promise<void> {
  const st = await Deno.stat(dir);
  const mode = (st.mode ?? 0) & 0o7777;
  if ((mode & 0o001) !== 0 || (st.gid === gid && (mode & 0o010) !== 0)) return;
  await Deno.chown(dir, null, gid);
  await Deno.chmod(dir, mode | 0o010);
}

function inside(path: string, dir: string): boolean {
  return path === dir || path.startsWith(`${dir.replace(/\/+$/, "")}/`);
}

/**
 * Hands the VM's files to `uid` and returns the jail QEMU runs in: its cwd and the only writable
 * places in its mount namespace are the state directory and the console log.
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
  if (!inside(consoleLog, stateDir)) await letSearch(dirname(consoleLog), uid);
  for (const s of g.sockets) {
    await Deno.chown(s, uid, uid);
    if (!inside(s, stateDir)) await letSearch(dirname(s), uid);
  }
  return {
    user: { uid, gid: uid, groups: [...g.groups] },
    caps: g.shares.length > 0 ? NINE_P_CAPS : [],
    writable: inside(consoleLog, stateDir) ? [stateDir] : [stateDir, consoleLog],
    shares: [...g.shares],
    cwd: stateDir,
    taps: [...g.taps],
  };
}
