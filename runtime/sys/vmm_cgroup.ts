/**
 * The host cgroup of a pod's host processes (QEMU, virtiofsd): the pod's own when the caller names
 * one (OCI `linux.cgroupsPath`, the first container's under containerd), else one Cocoon makes for
 * the sandbox. Where the group has no memory limit, Cocoon bounds it at the VM's largest size plus
 * an overhead (`[runtime] vmm_memory_overhead_mib`), so a guest, or a VMM it took over, cannot take
 * the host's memory; a limit the caller set (Docker's `-m`, a pod's) is left as it is.
 *
 * Cocoon's own group is `cocoon/<name>` at the root of a cgroup2 hierarchy (its parent has the
 * memory, cpu and pids controllers enabled; a group with processes cannot have children with
 * controllers there), and `<caller's group>/cocoon-<name>` in a v1 hierarchy (a v1 group may have
 * both), so a caller's own accounting (a CI job's memory group) still covers its VMs.
 *
 * @module
 */
import { cgroupMounts, cgroupRelPath, leaveHostCgroup } from "./host_cgroup.ts";

/** cgroup v1 reads "unlimited" as a page-rounded LONG_MAX; anything this large is no limit. */
const V1_UNLIMITED = 2n ** 62n;

/** Where the pod's host processes go. */
export type VmmCgroupTarget =
  | { readonly kind: "pod"; readonly cgroupsPath: string }
  | { readonly kind: "own"; readonly name: string };

/** The caller's cgroup per hierarchy, from /proc/self/cgroup ("4:memory:/a/b", "0::/x"). Pure. */
export function ownCgroups(procCgroup: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of procCgroup.split("\n")) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line);
    if (m === null) continue;
    for (const c of (m[1] ?? "").split(",")) out.set(c, m[2] ?? "/");
  }
  return out;
}

/** True when a memory limit file's text means "no limit". Pure. */
export function unlimited(text: string): boolean {
  const t = text.trim();
  return t === "max" || (/^\d+$/.test(t) && BigInt(t) >= V1_UNLIMITED);
}

/** The directories, one per accounting hierarchy, of `target`. */
async function groupDirs(target: VmmCgroupTarget): Promise<{ dir: string; v2: boolean; root: string }[]> {
  const mounts = cgroupMounts(await Deno.readTextFile("/proc/self/mountinfo"));
  const own = ownCgroups(await Deno.readTextFile("/proc/self/cgroup"));
  const out: { dir: string; v2: boolean; root: string }[] = [];
  for (const m of mounts) {
    if (m.controllers.length === 0) continue;
    const v2 = m.controllers[0] === "";
    let rel: string | null;
    if (target.kind === "pod") rel = cgroupRelPath(target.cgroupsPath);
    else if (v2) rel = `cocoon/${target.name}`;
    else {
      const here = own.get(m.controllers[0] ?? "") ?? "/";
      rel = cgroupRelPath(`${here.replace(/\/+$/, "")}/cocoon-${target.name}`);
    }
    if (rel !== null) out.push({ dir: `${m.mountPoint}/${rel}`, v2, root: m.mountPoint });
  }
  return out;
}

async function enableControllers(parent: string): Promise<void> {
  const available = (await Deno.readTextFile(`${parent}/cgroup.controllers`).catch(() => "")).split(/\s+/);
  const want = ["memory", "cpu", "pids"].filter((c) => available.includes(c)).map((c) => `+${c}`);
  if (want.length > 0) await Deno.writeTextFile(`${parent}/cgroup.subtree_control`, want.join(" "));
}

/**
 * Moves `pids` into the target's groups (made when missing), bounds the memory of each group that
 * has no limit at `limitBytes` (unless undefined), and returns the directories it made (for
 * {@link leaveVmmCgroup}; a pod's groups that existed already are not Cocoon's to remove).
 */
export async function placeVmm(
  pids: readonly number[],
  target: VmmCgroupTarget,
  limitBytes: number | undefined,
  onSkip: (dir: string, e: unknown) => void,
): Promise<string[]> {
  const made: string[] = [];
  let groups: { dir: string; v2: boolean; root: string }[];
  try {
    groups = await groupDirs(target);
  } catch (e) {
    // a library caller without the permission to read /proc (Deno wants --allow-all for it)
    onSkip("/proc/self/mountinfo", e);
    return [];
  }
  for (const g of groups) {
    try {
      const existed = await Deno.stat(g.dir).then(() => true, () => false);
      if (!existed) {
        if (g.v2 && target.kind === "own") {
          await Deno.mkdir(`${g.root}/cocoon`, { recursive: true });
          await enableControllers(g.root);
          await enableControllers(`${g.root}/cocoon`);
        }
        await Deno.mkdir(g.dir, { recursive: true });
        made.push(g.dir);
      }
      for (const pid of pids) await Deno.writeTextFile(`${g.dir}/cgroup.procs`, `${pid}\n`);
      if (limitBytes !== undefined) {
        const file = `${g.dir}/${g.v2 ? "memory.max" : "memory.limit_in_bytes"}`;
        const now = await Deno.readTextFile(file).catch(() => undefined);
        if (now !== undefined && unlimited(now)) await Deno.writeTextFile(file, `${limitBytes}\n`);
      }
    } catch (e) {
      onSkip(g.dir, e);
    }
  }
  return made;
}

/**
 * Removes Cocoon's own groups of sandbox `name` (once empty): what a delete does when the record
 * that named them is lost. A group still busy is left and returned.
 */
export async function removeOwnVmmCgroups(name: string): Promise<string[]> {
  let groups: { dir: string }[];
  try {
    groups = await groupDirs({ kind: "own", name });
  } catch {
    return [];
  }
  // a VMM killed just before may take a moment to leave its groups
  return await leaveHostCgroup(groups.map((g) => g.dir));
}
