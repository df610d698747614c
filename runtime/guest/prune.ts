/**
 * `pruneGuestImages`: removes cached images other than `current` (and those named in `keep`) that
 * are older than `minAgeMs`, so rebuilds after input changes do not fill the disk.
 *
 * @module
 */
import { join } from "node:path";
import { DEFAULT_GUEST_ROOT } from "./paths.ts";

export interface PruneOptions {
  outDir?: string;
  /** Image hashes to keep besides `current`. */
  keep?: readonly string[];
  /** Only remove images whose folder is older than this (default 1 hour: tests may be using one). */
  minAgeMs?: number;
}

/** Removes stale images; returns the removed folders. */
export async function pruneGuestImages(opts: PruneOptions = {}): Promise<string[]> {
  const root = opts.outDir ?? DEFAULT_GUEST_ROOT;
  const keep = new Set(opts.keep ?? []);
  try {
    keep.add(await Deno.readLink(join(root, "current")));
  } catch { /* no current image */ }
  const minAge = opts.minAgeMs ?? 3600_000;
  const removed: string[] = [];
  for await (const e of Deno.readDir(root)) {
    if (!e.isDirectory || !/^[0-9a-f]{64}$/.test(e.name) || keep.has(e.name)) continue;
    const dir = join(root, e.name);
    const mtime = (await Deno.stat(dir)).mtime?.getTime() ?? 0;
    if (Date.now() - mtime < minAge) continue;
    await Deno.remove(dir, { recursive: true });
    removed.push(dir);
  }
  return removed;
}
