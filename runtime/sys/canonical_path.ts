/**
 * Canonical host paths. The host acts on a path the caller gave (`--root`, a bundle, the state
 * directory) only after resolving it once: /proc/self/mountinfo, and so every mount guard, knows
 * canonical paths only (on Debian /var/run is a link to /run).
 *
 * @module
 */
import { posix } from "node:path";

/** `p` made absolute (against `cwd`) and normalised, without touching the filesystem. Pure. */
export function absolutePath(p: string, cwd: string): string {
  return posix.normalize(p.startsWith("/") ? p : `${cwd}/${p}`).replace(/(.)\/+$/, "$1");
}

/**
 * The canonical form of `p`: symbolic links of its longest existing prefix resolved, the rest
 * appended (like `realpath -m`).
 */
export function canonicalPathSync(p: string): string {
  const abs = absolutePath(p, Deno.cwd());
  const parts = abs.split("/").filter((x) => x !== "");
  for (let i = parts.length; i >= 0; i--) {
    try {
      const head = Deno.realPathSync(`/${parts.slice(0, i).join("/")}`);
      return absolutePath([head, ...parts.slice(i)].join("/"), "/");
    } catch {
      // this prefix does not exist (or cannot be resolved): try a shorter one
    }
  }
  return abs;
}

/** `canonicalPathSync` for async callers (a few realpath calls: not worth a second walk). */
export function canonicalPath(p: string): Promise<string> {
  try {
    return Promise.resolve(canonicalPathSync(p));
  } catch (e) {
    return Promise.reject(e);
  }
}
