/**
 * A {@link MetadataStore} on plain files, one directory per key.
 *
 * Layout: the key `sandboxes/sb1/containers/c1` is the directory `<root>/sandboxes/sb1/containers/c1/`
 * and its value the file `@record.json` in it, so a sandbox's record and the records of its
 * containers share the sandbox's directory. Key characters never include "@", so a record file or a
 * temp file (`@record.json.tmp-<pid>-<random>`) cannot collide with a directory named by a key.
 *
 * Durability: a save writes the value to a fresh temp file in the record's directory, fsyncs it,
 * renames it over `@record.json` (atomic on POSIX file systems) and fsyncs the directory, so after a
 * crash at any point a reader sees either the whole old value or the whole new one, never a mix.
 * Directories created on the way are fsynced into their parents. A temp file left by a crash has a
 * name no reader looks at, and the next save in its directory removes it once it is older than
 * `staleTempMs` (a live writer holds its temp file for milliseconds; a writer whose temp file was
 * removed retries).
 *
 * @module
 */
import type { MetadataStore } from "../../types.ts";
import type { Logger } from "../../../runtime/log/logger.ts";
import { RuntimeError, toRuntimeError } from "../../../runtime/errors.ts";
import {
  checkKey,
  checkPrefix,
  decodeValue,
  encodeValue,
  isKeySegment,
} from "../../../runtime/sys/store_keys.ts";

/** Name of the value file inside a key's directory. */
export const RECORD_FILE = "@record.json";
/** Prefix of temp files; what follows is `<pid>-<random>`. */
export const TEMP_PREFIX = "@record.json.tmp-";

export interface FsStoreOptions {
  /** Absolute directory holding the store; created (mode 0700) when missing. */
  readonly root: string;
  readonly log?: Logger;
  /**
   * Age after which a temp file is taken for a crash leftover and removed by the next save in its
   * directory.
   * @default 30000
   */
  readonly staleTempMs?: number;
}

/** How many times a save starts over when a concurrent delete pruned its directory. */
const SAVE_ATTEMPTS = 8;

/** The file-per-record store. Stateless apart from its options; several instances and processes may share a root. */
export class FsStore implements MetadataStore {
  readonly #root: string;
  readonly #log: Logger | undefined;
  readonly #staleTempMs: number;

  private constructor(opts: FsStoreOptions) {
    this.#root = opts.root.replace(/\/+$/, "");
    this.#log = opts.log;
    this.#staleTempMs = opts.staleTempMs ?? 30_000;
  }

  /** Opens (creating when needed) the store at `opts.root`. */
  static async open(opts: FsStoreOptions): Promise<FsStore> {
    if (!opts.root.startsWith("/")) {
      throw new RuntimeError(
        "InvalidArgument",
        `Cannot open store at ${JSON.stringify(opts.root)}: the path is not absolute`,
      );
    }
    try {
      await Deno.mkdir(opts.root, { recursive: true, mode: 0o700 });
    } catch (e) {
      throw toRuntimeError(e, `Cannot open store at "${opts.root}"`);
    }
    return new FsStore(opts);
  }

  /** The store's directory. */
  get root(): string {
    return this.#root;
  }

  async save(key: string, value: unknown): Promise<void> {
    const k = checkKey(key);
    const text = encodeValue(k, value);
    const dir = `${this.#root}/${k}`;
    for (let attempt = 1;; attempt++) {
      try {
        await this.#ensureDir(k);
        await this.#removeStaleTemps(dir);
        await writeAtomic(dir, text);
        return;
      } catch (e) {
        // A concurrent delete may prune the directory between mkdir and the temp file, or a cleaner
        // may take a stalled writer's temp file: both show up as NotFound and a fresh start fixes them.
        if (e instanceof Deno.errors.NotFound && attempt < SAVE_ATTEMPTS) continue;
        throw toRuntimeError(e, `Cannot save store record "${k}"`);
      }
    }
  }

  async load(key: string): Promise<unknown | undefined> {
    const k = checkKey(key);
    let text: string;
    try {
      text = await Deno.readTextFile(`${this.#root}/${k}/${RECORD_FILE}`);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) return undefined;
      throw toRuntimeError(e, `Cannot load store record "${k}"`);
    }
    return decodeValue(k, text);
  }

  async delete(key: string): Promise<void> {
    const k = checkKey(key);
    const dir = `${this.#root}/${k}`;
    try {
      await Deno.remove(`${dir}/${RECORD_FILE}`);
      await syncDir(dir);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw toRuntimeError(e, `Cannot delete store record "${k}"`);
    }
    await this.#prune(k);
  }

  async list(prefix?: string): Promise<string[]> {
    const p = checkPrefix(prefix);
    const cut = p.lastIndexOf("/") + 1;
    const base = p.slice(0, cut); // "" or ends with "/"
    const namePrefix = p.slice(cut);
    const out: string[] = [];
    try {
      await this.#walk(`${this.#root}/${base}`, base, namePrefix, out);
    } catch (e) {
      throw toRuntimeError(e, `Cannot list store records under "${p}"`);
    }
    // The walk may report the key of the start directory itself ("sandboxes" for "sandboxes/").
    return out.filter((key) => key.startsWith(p)).sort();
  }

  /**
   * Collects the keys below `dir` (whose key prefix is `base`), the first level filtered by name.
   * A directory is a key when its own listing holds the record file; siblings are walked in parallel.
   */
  async #walk(dir: string, base: string, namePrefix: string, out: string[]): Promise<void> {
    let entries: Deno.DirEntry[];
    try {
      entries = await Array.fromAsync(Deno.readDir(dir));
    } catch (e) {
      // A concurrent delete may prune a directory while we walk it.
      if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) return;
      throw e;
    }
    if (base !== "" && namePrefix === "" && entries.some((e) => e.isFile && e.name === RECORD_FILE)) {
      out.push(base.slice(0, -1));
    }
    // Record files and temp files start with "@", which no key segment does; anything else that
    // cannot be a key segment was not made by the store and is skipped.
    const subdirs = entries.filter((e) =>
      e.isDirectory && isKeySegment(e.name) && e.name.startsWith(namePrefix)
    );
    await Promise.all(subdirs.map((e) => this.#walk(`${dir}${e.name}/`, `${base}${e.name}/`, "", out)));
  }

  /** Creates the directories of `key`, fsyncing each new one into its parent. */
  async #ensureDir(key: string): Promise<void> {
    if (await exists(`${this.#root}/${key}`)) return;
    let path = this.#root;
    for (const seg of key.split("/")) {
      const parent = path;
      path = `${path}/${seg}`;
      try {
        await Deno.mkdir(path, { mode: 0o700 });
        await syncDir(parent);
      } catch (e) {
        if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
      }
    }
  }

  /** Removes crash-leftover temp files in `dir`. */
  async #removeStaleTemps(dir: string): Promise<void> {
    const now = Date.now();
    for await (const e of Deno.readDir(dir)) {
      if (!e.isFile || !e.name.startsWith(TEMP_PREFIX)) continue;
      const path = `${dir}/${e.name}`;
      try {
        const st = await Deno.lstat(path);
        if (now - (st.mtime?.getTime() ?? 0) < this.#staleTempMs) continue;
        await Deno.remove(path);
        this.#log?.info("removed stale store temp file", { path });
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      }
    }
  }

  /** Removes the now-empty directories of `key`, deepest first, never the root itself. */
  async #prune(key: string): Promise<void> {
    const segs = key.split("/");
    for (let n = segs.length; n > 0; n--) {
      const dir = `${this.#root}/${segs.slice(0, n).join("/")}`;
      try {
        await Deno.remove(dir); // rmdir: fails on a directory that still has entries
        await syncDir(dir.slice(0, dir.lastIndexOf("/")));
      } catch (e) {
        if (e instanceof Deno.errors.NotFound) continue; // pruned by someone else: go on upwards
        return; // not empty (or not ours to remove): stop here
      }
    }
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) return false;
    throw e;
  }
}

function randomSuffix(): string {
  const b = crypto.getRandomValues(new Uint8Array(6));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/** Writes `text` as `dir/@record.json`: temp file, fsync, rename, fsync of the directory. */
async function writeAtomic(dir: string, text: string): Promise<void> {
  const tmp = `${dir}/${TEMP_PREFIX}${Deno.pid}-${randomSuffix()}`;
  const bytes = new TextEncoder().encode(text);
  const f = await Deno.open(tmp, { write: true, createNew: true, mode: 0o600 });
  let renamed = false;
  try {
    try {
      let off = 0;
      while (off < bytes.length) off += await f.write(bytes.subarray(off));
      await f.sync();
    } finally {
      f.close();
    }
    await Deno.rename(tmp, `${dir}/${RECORD_FILE}`);
    renamed = true;
  } finally {
    if (!renamed) await Deno.remove(tmp).catch(() => {});
  }
  await syncDir(dir);
}

/**
 * Makes the entries of `dir` durable (a rename or a new file in it). Linux and the BSDs allow
 * fsync on a directory opened read-only; Windows cannot open directories this way, so there the
 * step is skipped and durability of the rename rests on the file system (NTFS journals metadata).
 */
async function syncDir(dir: string): Promise<void> {
  if (Deno.build.os === "windows") return;
  const d = await Deno.open(dir, { read: true });
  try {
    await d.sync();
  } finally {
    d.close();
  }
}
