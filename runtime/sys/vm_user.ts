/**
 * One host uid per VM: QEMU runs as a uid no other VM and no host account uses, so a VMM that a
 * guest took over cannot signal, trace or write into another VM or the host's files.
 *
 * Uids come from a range (by default 65,536 uids from 0x70000000, far above login accounts and the
 * usual /etc/subuid ranges) and are claimed host-wide by creating `<claims>/<uid>` exclusively
 * under a lock. A claim is released when the VM is cleaned up; one left by a crash is taken again
 * once it is older than a start could take and no process runs with that uid (any of its four
 * uids, as `ps` reads them from /proc/<pid>/status, which a non-dumpable process cannot hide). The gid is the same number; no
 * passwd or group entry is made (nothing looks the uid up by name).
 *
 * @module
 */
import { RuntimeError } from "../errors.ts";

/** Where claims live: host-wide, whatever state directory a caller uses. */
export const VM_USER_CLAIMS = "/run/cocoon-vm-users";

/** The uid range. */
export interface VmUserRange {
  readonly first: number;
  readonly count: number;
}

export const DEFAULT_VM_USER_RANGE: VmUserRange = { first: 0x7000_0000, count: 65_536 };

/** A claim older than this with no process of its uid is stale, ms. */
const STALE_AFTER_MS = 10 * 60_000;

/** The uids of running processes (real, effective, saved, fs), from `ps` (Deno 2 wants --allow-all for /proc). */
export async function runningUids(): Promise<Set<number>> {
  const out = await new Deno.Command("ps", {
    args: ["-e", "-o", "ruid=,euid=,suid=,fsuid="],
    stdout: "piped",
    stderr: "null",
  }).output();
  return new Set(
    new TextDecoder().decode(out.stdout).split(/\s+/).filter((s) => /^\d+$/.test(s)).map(Number),
  );
}

/** Options of {@link claimVmUser}; tests give their own directory and range. */
export interface ClaimOptions {
  readonly claims?: string;
  readonly range?: VmUserRange;
  /** For tests: which uids run. */
  readonly running?: () => Promise<Set<number>>;
  /** For tests: the slot to try first. */
  readonly start?: number;
}

/**
 * Claims a free uid for the VM whose state directory is `owner` (written into the claim, for
 * people reading it).
 *
 * @throws {RuntimeError} `ResourceExhausted` when every uid of the range is claimed.
 */
export async function claimVmUser(owner: string, o: ClaimOptions = {}): Promise<number> {
  const claims = o.claims ?? VM_USER_CLAIMS;
  const range = o.range ?? DEFAULT_VM_USER_RANGE;
  await Deno.mkdir(claims, { recursive: true, mode: 0o700 });
  const lock = await Deno.open(`${claims}/.lock`, { create: true, write: true, mode: 0o600 });
  try {
    await lock.lock(true);
    const start = o.start ?? Math.floor(Math.random() * range.count);
    let running: Set<number> | undefined;
    for (let i = 0; i < range.count; i++) {
      const uid = range.first + (start + i) % range.count;
      const path = `${claims}/${uid}`;
      const st = await Deno.lstat(path).catch(() => undefined);
      if (st !== undefined) {
        const age = Date.now() - (st.mtime?.getTime() ?? Date.now());
        if (age < STALE_AFTER_MS) continue;
        running ??= await (o.running ?? runningUids)();
        if (running.has(uid)) continue;
        await Deno.remove(path);
      }
      await Deno.writeTextFile(path, `${owner}\n`, { createNew: true, mode: 0o600 });
      return uid;
    }
  } finally {
    lock.close();
  }
  throw new RuntimeError(
    "ResourceExhausted",
    `Cannot give the VM in "${owner}" a uid of its own: all ${range.count} uids from ${range.first} are claimed (see ${claims})`,
  );
}

/** Releases a claim (missing is fine). */
export async function releaseVmUser(uid: number, o: { claims?: string } = {}): Promise<void> {
  await Deno.remove(`${o.claims ?? VM_USER_CLAIMS}/${uid}`).catch((e) => {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  });
}

/**
 * Releases the claims of VMs whose state directory is `dir` or below it: what a sandbox's delete
 * does when its QEMU is gone without cleaning up (killed, or its records lost).
 */
export async function releaseVmUsersUnder(dir: string, o: { claims?: string } = {}): Promise<number[]> {
  const claims = o.claims ?? VM_USER_CLAIMS;
  const root = dir.replace(/\/+$/, "");
  const freed: number[] = [];
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(claims));
  } catch (e) {
    // none made yet, or a library caller that may not look (then it made none either)
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotCapable) return [];
    throw e;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e.name)) continue;
    const owner = (await Deno.readTextFile(`${claims}/${e.name}`).catch(() => "")).trim();
    if (owner === root || owner.startsWith(`${root}/`)) {
      await releaseVmUser(Number(e.name), { claims });
      freed.push(Number(e.name));
    }
  }
  return freed;
}
