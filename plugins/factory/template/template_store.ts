/**
 * Templates on disk. `<root>/<key>/` is a tmpfs of its own (unless `<root>` already is one) holding
 * `memory` (the guest RAM, truncated to its size), `state` (device state) and `meta.json`, written
 * last with a rename, so a template without `meta.json` is unfinished and never used. Builders
 * serialise on an exclusive lock on `<root>/<key>.lock`; the template VM itself runs in
 * `<root>/<key>.build/`, removed when the build ends.
 *
 * @module
 */
import { HypervisorError } from "../../../runtime/errors.ts";
import { writeAtomic } from "../../../runtime/sys/files.ts";

/** Headroom of a template's tmpfs above guest RAM, for the device state and meta.json. */
const TMPFS_EXTRA_MIB = 32;

export interface TemplatePaths {
  readonly dir: string;
  readonly memory: string;
  readonly state: string;
  readonly meta: string;
  readonly lock: string;
  readonly build: string;
}

/** Paths of the template `key` under `root`. Pure. */
export function templatePaths(root: string, key: string): TemplatePaths {
  const r = root.replace(/\/+$/, "");
  const dir = `${r}/${key}`;
  return {
    dir,
    memory: `${dir}/memory`,
    state: `${dir}/state`,
    meta: `${dir}/meta.json`,
    lock: `${r}/${key}.lock`,
    build: `${r}/${key}.build`,
  };
}

/** What `meta.json` records. */
export interface TemplateMeta {
  readonly schema: 1;
  readonly key: string;
  readonly createdAt: string;
  readonly memoryMiB: number;
  readonly vcpus: number;
  readonly kernel: string;
  readonly stateBytes: number;
  readonly buildMs: number;
  readonly bootMs: number;
  /** Whether `dir` is a tmpfs mounted for this template (unmounted by destroy). */
  readonly ownMount: boolean;
}

/** Parses meta.json; undefined when malformed. Pure. */
export function parseMeta(text: string): TemplateMeta | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof v !== "object" || v === null) return undefined;
  const o: Record<string, unknown> = { ...v };
  const num = (k: string) => typeof o[k] === "number" && Number.isFinite(o[k]);
  if (o["schema"] !== 1 || typeof o["key"] !== "string" || typeof o["createdAt"] !== "string") {
    return undefined;
  }
  if (!["memoryMiB", "vcpus", "stateBytes", "buildMs", "bootMs"].every(num)) return undefined;
  if (typeof o["kernel"] !== "string" || typeof o["ownMount"] !== "boolean") return undefined;
  return {
    schema: 1,
    key: o["key"],
    createdAt: o["createdAt"],
    memoryMiB: Number(o["memoryMiB"]),
    vcpus: Number(o["vcpus"]),
    kernel: o["kernel"],
    stateBytes: Number(o["stateBytes"]),
    buildMs: Number(o["buildMs"]),
    bootMs: Number(o["bootMs"]),
    ownMount: o["ownMount"],
  };
}

/** The finished template `key`, or undefined when there is none (or only a half-built one). */
export async function readMeta(paths: TemplatePaths): Promise<TemplateMeta | undefined> {
  const text = await Deno.readTextFile(paths.meta).catch(() => undefined);
  if (text === undefined) return undefined;
  const meta = parseMeta(text);
  if (meta === undefined) return undefined;
  const ok = await Promise.all(
    [paths.memory, paths.state].map((p) => Deno.stat(p).then(() => true, () => false)),
  );
  return ok.every((x) => x) ? meta : undefined;
}

/** Writes meta.json atomically (temporary file, then rename). */
export async function writeMeta(paths: TemplatePaths, meta: TemplateMeta): Promise<void> {
  await writeAtomic(paths.meta, JSON.stringify(meta, null, 2) + "\n");
}

/** Holds the builder lock of a template until disposed (flock: released if the process dies). */
export async function lockTemplate(paths: TemplatePaths): Promise<AsyncDisposable> {
  const f = await Deno.open(paths.lock, { read: true, write: true, create: true, mode: 0o600 });
  await f.lock(true);
  return {
    async [Symbol.asyncDispose]() {
      await f.unlock().catch(() => {});
      f.close();
    },
  };
}

async function run(cmd: string, args: string[]): Promise<{ ok: boolean; out: string; err: string }> {
  const r = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const dec = new TextDecoder();
  return { ok: r.success, out: dec.decode(r.stdout).trim(), err: dec.decode(r.stderr).trim() };
}

/** The file system type of `path` ("tmpfs", "ext2/ext3", ...). */
export async function fsType(path: string): Promise<string> {
  const r = await run("stat", ["-f", "-c", "%T", path]);
  return r.ok ? r.out : "unknown";
}

/** True when `path` is a mount point. */
export async function isMountPoint(path: string): Promise<boolean> {
  return (await run("mountpoint", ["-q", path])).ok;
}

/**
 * Makes `paths.dir` a RAM-backed directory: nothing when it already is on tmpfs, else a tmpfs
 * sized to `memoryMiB` plus headroom. Returns whether a mount was made.
 */
export async function prepareTemplateDir(paths: TemplatePaths, memoryMiB: number): Promise<boolean> {
  await Deno.mkdir(paths.dir, { recursive: true, mode: 0o700 });
  if (await isMountPoint(paths.dir)) return true;
  if (await fsType(paths.dir) === "tmpfs") return false;
  const r = await run("mount", [
    "-t",
    "tmpfs",
    "-o",
    `size=${memoryMiB + TMPFS_EXTRA_MIB}M,mode=0700`,
    "cocoon-template",
    paths.dir,
  ]);
  if (!r.ok) {
    throw new HypervisorError(
      "FailedPrecondition",
      `Cannot make template directory "${paths.dir}": mount tmpfs failed: ${r.err}`,
    );
  }
  return true;
}

/**
 * Removes the template `key`: its files, and its tmpfs (lazily: clones that still map the memory
 * file keep their pages until they exit).
 */
export async function removeTemplate(paths: TemplatePaths, opts: { keepLock?: boolean } = {}): Promise<void> {
  for (const p of [paths.meta, paths.state, paths.memory, `${paths.meta}.tmp`, `${paths.state}.tmp`]) {
    await Deno.remove(p).catch(() => {});
  }
  if (await isMountPoint(paths.dir)) {
    const r = await run("umount", ["-l", paths.dir]);
    if (!r.ok) {
      throw new HypervisorError("Internal", `Cannot remove template "${paths.dir}": umount failed: ${r.err}`);
    }
  }
  await Deno.remove(paths.dir, { recursive: true }).catch(() => {});
  await Deno.remove(paths.build, { recursive: true }).catch(() => {});
  if (opts.keepLock !== true) await Deno.remove(paths.lock).catch(() => {});
}

/** Keys of the templates (finished or not) under `root`. */
export async function listTemplateKeys(root: string): Promise<string[]> {
  const keys = new Set<string>();
  try {
    for await (const e of Deno.readDir(root)) {
      const m = /^([0-9a-f]{32})(\.lock|\.build)?$/.exec(e.name);
      if (m?.[1] !== undefined) keys.add(m[1]);
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return [...keys].sort();
}
