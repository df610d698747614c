/**
 * The host cgroup of an OCI container (`linux.cgroupsPath`), joined by the process that stands for
 * it (the holder) before it starts the VM, so that QEMU and virtiofsd land there too: what a caller
 * reads from that cgroup (`docker stats`: containerd's runc shim loads the cgroup of the init pid;
 * podman reads the path it asked for) is then the VM's memory and CPU, not an unrelated host group.
 * Resource limits stay in the guest (the container's cgroup there), as with Kata: a host memory
 * limit at the container's size would kill the VMM.
 *
 * @module
 */

/** Controllers (cgroup v1 hierarchies) that account usage worth joining; "" is the v2 hierarchy. */
const JOIN = new Set(["", "memory", "cpu", "cpuacct", "pids", "blkio"]);

export interface CgroupMount {
  readonly mountPoint: string;
  /** v1 controllers of the hierarchy; [""] for cgroup2. */
  readonly controllers: readonly string[];
}

/** The cgroup hierarchies of a mountinfo text. Pure. */
export function cgroupMounts(mountinfo: string): CgroupMount[] {
  const out: CgroupMount[] = [];
  for (const line of mountinfo.split("\n")) {
    const [pre, post] = line.split(" - ");
    if (pre === undefined || post === undefined) continue;
    const [fstype, , superOpts = ""] = post.split(" ");
    const mp = (pre.split(" ")[4] ?? "").replace(
      /\\([0-7]{3})/g,
      (_, o: string) => String.fromCharCode(parseInt(o, 8)),
    );
    if (fstype === "cgroup2") out.push({ mountPoint: mp, controllers: [""] });
    else if (fstype === "cgroup") {
      out.push({ mountPoint: mp, controllers: superOpts.split(",").filter((o) => JOIN.has(o) && o !== "") });
    }
  }
  return out;
}

/** `linux.cgroupsPath` of a raw OCI spec, if any. Pure. */
export function cgroupsPathOf(raw: Readonly<Record<string, unknown>>): string | undefined {
  const linux = raw["linux"];
  const p = typeof linux === "object" && linux !== null ? Reflect.get(linux, "cgroupsPath") : undefined;
  return typeof p === "string" && p !== "" ? p : undefined;
}

/**
 * The path below a hierarchy's root for an OCI `cgroupsPath`: the cgroupfs form (`/docker/<id>`)
 * as is, the systemd form (`system.slice:docker:<id>`) expanded as systemd lays it out
 * (`system.slice/docker-<id>.scope`; `a-b.slice` nests under `a.slice`). Null when there is none or
 * it would leave the hierarchy. Pure.
 */
export function cgroupRelPath(cgroupsPath: string | undefined): string | null {
  if (cgroupsPath === undefined || cgroupsPath === "") return null;
  let rel: string;
  const parts = cgroupsPath.split(":");
  if (parts.length === 3 && !cgroupsPath.startsWith("/")) {
    const [slice = "", prefix = "", name = ""] = parts;
    const slices: string[] = [];
    if (slice !== "" && slice !== "-.slice") {
      const base = slice.replace(/\.slice$/, "").split("-");
      for (let i = 1; i <= base.length; i++) slices.push(`${base.slice(0, i).join("-")}.slice`);
    }
    rel = [...slices, `${prefix}${prefix ? "-" : ""}${name}.scope`].join("/");
  } else rel = cgroupsPath;
  const segs = rel.split("/").filter((s) => s !== "" && s !== ".");
  if (segs.length === 0 || segs.includes("..")) return null;
  return segs.join("/");
}

/**
 * Moves `pid` into `cgroupsPath` in every hierarchy that accounts usage, creating the groups;
 * returns the directories created (for `leaveHostCgroup`). A hierarchy that refuses is skipped.
 */
export async function joinHostCgroup(
  cgroupsPath: string | undefined,
  pid: number,
  onSkip: (dir: string, e: unknown) => void = () => {},
): Promise<string[]> {
  const rel = cgroupRelPath(cgroupsPath);
  if (rel === null) return [];
  const mountinfo = await Deno.readTextFile("/proc/self/mountinfo");
  const made: string[] = [];
  for (const m of cgroupMounts(mountinfo)) {
    if (m.controllers.length === 0) continue;
    const dir = `${m.mountPoint}/${rel}`;
    try {
      await Deno.mkdir(dir, { recursive: true });
      await Deno.writeTextFile(`${dir}/cgroup.procs`, `${pid}\n`);
      made.push(dir);
    } catch (e) {
      onSkip(dir, e);
    }
  }
  return made;
}

/** Removes the groups `joinHostCgroup` made, once empty (a busy one is left and reported). */
export async function leaveHostCgroup(dirs: readonly string[]): Promise<string[]> {
  const left: string[] = [];
  for (const d of dirs) {
    let ok = false;
    for (let i = 0; i < 20 && !ok; i++) {
      try {
        await Deno.remove(d);
        ok = true;
      } catch (e) {
        if (e instanceof Deno.errors.NotFound) ok = true;
        else await new Promise((r) => setTimeout(r, 100));
      }
    }
    if (!ok) left.push(d);
  }
  return left;
}
