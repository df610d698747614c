/**
 * Host-side mount helpers behind a runner that tests replace with a recording fake: unbind, the
 * mount points under a directory. Used by the share tree (./share_tree.ts), the storage plugins
 * and cleanup (plugins may import runtime/sys, not each other).
 *
 * @module
 */
import { RuntimeError } from "../errors.ts";
import { canonicalPath } from "./canonical_path.ts";

export interface RunResult {
  readonly code: number;
  readonly stdout?: string;
  readonly stderr: string;
}

/** Runs one command to completion. */
export interface HostRunner {
  run(cmd: string, args: readonly string[]): Promise<RunResult>;
}

/** The real runner (`Deno.Command`, stdin closed). */
export function hostRunner(): HostRunner {
  const dec = new TextDecoder();
  return {
    async run(cmd, args) {
      const out = await new Deno.Command(cmd, {
        args: [...args],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
    },
  };
}

/** Runs a command; a non-zero exit is an `Internal` error naming `what`, the command and its stderr. */
export async function must(
  r: HostRunner,
  what: string,
  cmd: string,
  args: readonly string[],
): Promise<void> {
  const res = await r.run(cmd, args);
  if (res.code !== 0) {
    throw new RuntimeError(
      "Internal",
      `${what}: "${[cmd, ...args].join(" ")}" exited with code ${res.code}: ${
        res.stderr.trim().slice(0, 300)
      }`,
    );
  }
}

/**
 * Unmounts everything at and under `dir`, deepest first (lazily when busy). A mount that went with
 * another one (a propagated copy, unmounted with its master) is not an error.
 */
export async function unmountAll(r: HostRunner, dir: string, what: string): Promise<void> {
  for (const mp of await mountsUnder(dir, r)) {
    if ((await r.run("umount", [mp])).code === 0) continue;
    if (!(await mountsUnder(mp, r)).includes(mp)) continue;
    await must(r, what, "umount", ["-l", mp]);
  }
}

/** Unmounts everything at and under `target` (lazily when busy) and removes the mount point. */
export async function unbind(r: HostRunner, target: string): Promise<void> {
  await unmountAll(r, target, `Cannot unshare "${target}"`);
  await Deno.remove(target).catch((e) => {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  });
}

/**
 * Mount points at or below `dir` (canonicalised) in this mount namespace, deepest first. The table
 * is read through the runner (`cat`, same mount namespace) so that tests can fake it.
 */
export async function mountsUnder(dir: string, r: HostRunner = hostRunner()): Promise<string[]> {
  const res = await r.run("cat", ["/proc/self/mountinfo"]);
  if (res.code !== 0 || res.stdout === undefined) {
    throw new RuntimeError(
      "Internal",
      `Cannot list mounts under "${dir}": cat /proc/self/mountinfo exited with code ${res.code}`,
    );
  }
  // The table holds canonical paths only: a directory reached through a symbolic link (/var/run is
  // /run on Debian) would match nothing.
  const real = await canonicalPath(dir);
  return parseMountPoints(res.stdout).filter((mp) => mp === real || mp.startsWith(`${real}/`))
    .sort((a, b) => b.length - a.length);
}

/** Mount points (field 5) of a mountinfo text, octal escapes decoded. Pure. */
export function parseMountPoints(mountinfo: string): string[] {
  const out: string[] = [];
  for (const line of mountinfo.split("\n")) {
    const f = line.split(" ");
    const mp = f[4];
    if (mp !== undefined) {
      out.push(mp.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))));
    }
  }
  return out;
}

/** Removes empty directories from `leaf` up to (not including) `stop`. */
export async function pruneEmpty(leaf: string, stop: string): Promise<void> {
  let dir = leaf;
  while (dir.startsWith(`${stop}/`)) {
    try {
      await Deno.remove(dir);
    } catch {
      return; // not empty, or gone
    }
    dir = dir.slice(0, dir.lastIndexOf("/"));
  }
}
