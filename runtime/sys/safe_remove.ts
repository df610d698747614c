/**
 * Paths the host acts on, made canonical once, and the one recursive removal the runtime uses.
 *
 * A recursive removal that descends through a bind mount deletes the user's files (a container's
 * rootfs and volumes are bound into the sandbox's shared directory). So `removeTree`:
 * - resolves the directory to its canonical path first (a `--root` under /var/run is really under
 *   /run: the mount table only knows canonical paths);
 * - refuses when anything is mounted at or below it;
 * - never follows a symbolic link (links are removed, not their targets), and stops without going
 *   further where a directory lies on another device than the tree's root.
 *
 * @module
 */
import { RuntimeError } from "../errors.ts";
import { canonicalPath } from "./canonical_path.ts";
import { type HostRunner, hostRunner, mountsUnder, unmountAll } from "./host_mount.ts";

/**
 * Removes `dir` and everything below it; a missing `dir` is not an error.
 *
 * @throws {RuntimeError} `FailedPrecondition` when something is mounted at or below it, or a
 * directory below it is on another device; nothing is removed in the first case.
 */
export async function removeTree(dir: string, r: HostRunner = hostRunner()): Promise<void> {
  const real = await canonicalPath(dir);
  let root: Deno.FileInfo;
  try {
    root = await Deno.lstat(real);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    throw e;
  }
  if (!root.isDirectory) {
    await Deno.remove(real);
    return;
  }
  const mounts = await mountsUnder(real, r);
  if (mounts.length > 0) {
    throw new RuntimeError(
      "FailedPrecondition",
      `Cannot remove "${dir}": ${mounts.length} mount(s) remain at or below it, first "${
        mounts[mounts.length - 1]
      }"; unmount them first (nothing was removed)`,
    );
  }
  await removeBelow(real, root.dev);
  await Deno.remove(real);
}

async function removeBelow(dir: string, dev: number): Promise<void> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) names.push(e.name);
  for (const name of names) {
    const p = `${dir}/${name}`;
    let st: Deno.FileInfo;
    try {
      st = await Deno.lstat(p);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) continue;
      throw e;
    }
    if (st.isDirectory) {
      if (st.dev !== dev) {
        throw new RuntimeError(
          "FailedPrecondition",
          `Cannot remove "${p}": it is on another filesystem than "${dir}" (a mount); stopped there`,
        );
      }
      await removeBelow(p, dev);
    }
    await Deno.remove(p).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    });
  }
}

/**
 * Unmounts everything at and under `dir` (a sandbox-shaped directory Cocoon made: its share tree),
 * then removes it with {@link removeTree}.
 */
export async function unmountAndRemove(dir: string, r: HostRunner = hostRunner()): Promise<void> {
  await unmountAll(r, dir, `Cannot remove "${dir}"`);
  await removeTree(dir, r);
}
