/**
 * Mount points inside a read-only rootfs. The rootfs of a container with `root.readonly` is shared
 * read-only on the host, so the guest's runtime cannot create a missing mount destination in it
 * (runc and crun do so before they remount the root read-only). The host creates them first, in
 * the bundle's rootfs, walking each path one component at a time: a symbolic link or anything but
 * a directory on the way stops that one (the guest's runtime then resolves it inside the guest).
 *
 * @module
 */
import type { OciMount } from "../../plugins/types.ts";

/** Destinations to create for `mounts`: clean relative paths, parents first. Pure. */
export function mountPointPaths(mounts: readonly OciMount[]): string[] {
  const out = new Set<string>();
  for (const m of mounts) {
    const parts = m.destination.split("/").filter((p) => p !== "" && p !== ".");
    if (parts.length === 0 || parts.includes("..")) continue;
    out.add(parts.join("/"));
  }
  return [...out].sort((a, b) => a.split("/").length - b.split("/").length);
}

/** Creates the missing mount points of `mounts` in `rootfs` (directories; files for file binds). */
export async function createMountPoints(rootfs: string, mounts: readonly OciMount[]): Promise<void> {
  const fileBinds = new Set<string>();
  for (const m of mounts) {
    if (m.source === undefined || !m.source.startsWith("/")) continue;
    const st = await Deno.stat(m.source).catch(() => undefined);
    if (st?.isFile) fileBinds.add(m.destination.split("/").filter((p) => p !== "").join("/"));
  }
  for (const rel of mountPointPaths(mounts)) {
    const parts = rel.split("/");
    let dir = rootfs;
    for (const [i, p] of parts.entries()) {
      const path = `${dir}/${p}`;
      const st = await Deno.lstat(path).catch(() => undefined);
      const last = i === parts.length - 1;
      if (st === undefined) {
        // a rootfs that cannot be written (already read-only) is left to the guest's runtime
        const made = await (last && fileBinds.has(rel)
          ? Deno.open(path, { createNew: true, write: true, mode: 0o644 }).then((f) =>
            f.close()
          )
          : Deno.mkdir(path, { mode: 0o755 })).then(() => true, () => false);
        if (!made) break;
      } else if (st.isSymlink || (!st.isDirectory && !last)) {
        break;
      }
      dir = path;
    }
  }
}
