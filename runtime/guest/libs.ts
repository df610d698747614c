/**
 * Shared libraries for the guest userland, taken from unpacked Debian packages: follow the
 * DT_NEEDED sonames of each program (and of each library found) and copy the files, plus the
 * dynamic loader named by PT_INTERP.
 *
 * @module
 */
import { basename, dirname, join } from "node:path";
import { GuestImageError } from "../errors.ts";
import { readElfDeps } from "./elf.ts";

const LIB_DIRS = ["lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu", "lib64", "usr/lib64", "lib", "usr/lib"];

/** Where a soname lives: the unpacked package root and the path inside it. */
interface LibLocation {
  root: string;
  rel: string;
}

/** Indexes the library directories of unpacked package trees by file name (first root wins). */
export async function indexLibraries(roots: readonly string[]): Promise<Map<string, LibLocation>> {
  const index = new Map<string, LibLocation>();
  for (const root of roots) {
    for (const d of LIB_DIRS) {
      try {
        for await (const e of Deno.readDir(join(root, d))) {
          if ((e.isFile || e.isSymlink) && e.name.includes(".so") && !index.has(e.name)) {
            index.set(e.name, { root, rel: `${d}/${e.name}` });
          }
        }
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      }
    }
  }
  return index;
}

/** Follows symlinks inside an unpacked tree (absolute targets are read relative to `root`). */
export async function resolveInRoot(root: string, rel: string): Promise<string> {
  let cur = rel.replace(/^\/+/, "");
  for (let i = 0; i < 16; i++) {
    const st = await Deno.lstat(join(root, cur));
    if (!st.isSymlink) return join(root, cur);
    const target = await Deno.readLink(join(root, cur));
    cur = target.startsWith("/") ? target.slice(1) : join(dirname(cur), target);
  }
  throw new GuestImageError("Internal", `Cannot resolve "${rel}" in "${root}": too many symlinks`);
}

/** One library copied into the userland. */
export interface CopiedLib {
  name: string;
  size: number;
}

/**
 * Copies into `dest` every library `programs` need, transitively: sonames go to
 * `dest/lib/x86_64-linux-gnu/`, the loader to its PT_INTERP path. Throws on a soname no package has.
 */
export async function copyRuntimeLibs(
  programs: readonly string[],
  index: ReadonlyMap<string, LibLocation>,
  dest: string,
): Promise<CopiedLib[]> {
  const done = new Set<string>();
  const copied: CopiedLib[] = [];
  const queue: { file: string; from: string }[] = programs.map((p) => ({ file: p, from: p }));
  const libDir = join(dest, "lib/x86_64-linux-gnu");
  await Deno.mkdir(libDir, { recursive: true });
  while (queue.length > 0) {
    const item = queue.shift();
    if (item === undefined) break;
    const deps = await readElfDeps(item.file);
    const wants: { soname: string; target: string }[] = deps.needed.map((s) => ({
      soname: s,
      target: join(libDir, s),
    }));
    if (deps.interpreter !== null) {
      wants.push({ soname: basename(deps.interpreter), target: join(dest, deps.interpreter) });
    }
    for (const w of wants) {
      if (done.has(w.target)) continue;
      done.add(w.target);
      const loc = index.get(w.soname);
      if (loc === undefined) {
        throw new GuestImageError(
          "NotFound",
          `Cannot find library "${w.soname}" needed by "${basename(item.from)}" in the guest packages`,
        );
      }
      const real = await resolveInRoot(loc.root, loc.rel);
      await Deno.mkdir(dirname(w.target), { recursive: true });
      await Deno.copyFile(real, w.target);
      copied.push({ name: w.soname, size: (await Deno.stat(w.target)).size });
      queue.push({ file: w.target, from: w.soname });
    }
  }
  return copied;
}
