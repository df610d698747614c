/**
 * A {@link MetadataStore} in one SQLite database (`node:sqlite`, built into Deno).
 *
 * Durability: the database runs in WAL mode, and each save/delete is one autocommit statement, so
 * a commit is atomic: after a crash a reader sees the last committed value of every key, never a
 * partial one (SQLite recovers or ignores an incomplete WAL frame by its checksum). With
 * `synchronous=FULL` (the default) every commit fsyncs the WAL before it returns, so a save that
 * returned survives power loss too, matching the fs store. `synchronous=NORMAL` skips that fsync:
 * still atomic and still safe against the process being killed (the WAL is in the page cache), but
 * the last commits may roll back on power loss; pick it only for state under a tmpfs `/run`, which
 * does not survive power loss anyway.
 *
 * Sharing: holder processes and the daemon open the same file; `busy_timeout` makes a writer wait
 * for the lock instead of failing, and WAL lets readers run while one process writes.
 *
 * @module
 */
import { DatabaseSync, type StatementSync } from "node:sqlite";
import type { MetadataStore } from "../../types.ts";
import type { Logger } from "../../../runtime/log/logger.ts";
import { RuntimeError, toRuntimeError } from "../../../runtime/errors.ts";
import { checkKey, checkPrefix, decodeValue, encodeValue } from "../../../runtime/sys/store_keys.ts";
import { migrate } from "./_schema.ts";

export interface SqliteStoreOptions {
  /** Absolute path of the database file; its directory is created (mode 0700) when missing. */
  readonly path: string;
  readonly log?: Logger;
  /** @default "full" */
  readonly synchronous?: "full" | "normal";
  /** How long a statement waits for another process's lock. @default 5000 */
  readonly busyTimeoutMs?: number;
}

const SQLITE_BUSY = 5;
const SQLITE_LOCKED = 6;

/** The SQLite result code of an error thrown by `node:sqlite`, if it has one. */
export function sqliteErrcode(e: unknown): number | undefined {
  if (e instanceof Error && "errcode" in e && typeof e.errcode === "number") return e.errcode;
  return undefined;
}

function isBusy(e: unknown): boolean {
  const c = sqliteErrcode(e);
  return c !== undefined && ((c & 0xff) === SQLITE_BUSY || (c & 0xff) === SQLITE_LOCKED);
}

function wrap(e: unknown, context: string): RuntimeError {
  if (isBusy(e)) return new RuntimeError("Unavailable", `${context}: the database is locked`, { cause: e });
  return toRuntimeError(e, context);
}

/** Runs the synchronous `fn` and hands its result or its error over as a promise, never a throw. */
function settle<T>(fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (e) {
    return Promise.reject(e);
  }
}

/** Upper bound (exclusive) of the keys starting with `prefix`; keys are ASCII, compared by bytes. */
function prefixEnd(prefix: string): string {
  const last = prefix.charCodeAt(prefix.length - 1);
  return prefix.slice(0, -1) + String.fromCharCode(last + 1);
}

/** The sqlite-backed store: a stateful handle on one database connection; `close()` it when done. */
export class SqliteStore implements MetadataStore, Disposable {
  readonly #db: DatabaseSync;
  readonly #path: string;
  readonly #save: StatementSync;
  readonly #load: StatementSync;
  readonly #delete: StatementSync;
  readonly #listAll: StatementSync;
  readonly #listRange: StatementSync;
  #closed = false;

  private constructor(db: DatabaseSync, path: string) {
    this.#db = db;
    this.#path = path;
    this.#save = db.prepare(
      `INSERT INTO records (key, value, updated_at) VALUES (?, ?, ?)
       ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
    );
    this.#load = db.prepare("SELECT value FROM records WHERE key = ?");
    this.#delete = db.prepare("DELETE FROM records WHERE key = ?");
    this.#listAll = db.prepare("SELECT key FROM records ORDER BY key");
    this.#listRange = db.prepare("SELECT key FROM records WHERE key >= ? AND key < ? ORDER BY key");
  }

  /** Opens (creating and migrating when needed) the database at `opts.path`. */
  static async open(opts: SqliteStoreOptions): Promise<SqliteStore> {
    const path = opts.path;
    if (!path.startsWith("/")) {
      throw new RuntimeError(
        "InvalidArgument",
        `Cannot open store at ${JSON.stringify(path)}: the path is not absolute`,
      );
    }
    try {
      await Deno.mkdir(path.slice(0, path.lastIndexOf("/")) || "/", { recursive: true, mode: 0o700 });
      // Create the file ourselves so that it is private; SQLite gives its -wal and -shm files the
      // database file's mode. An empty file is a valid empty database.
      (await Deno.open(path, { write: true, create: true, mode: 0o600 })).close();
    } catch (e) {
      throw toRuntimeError(e, `Cannot open store "${path}"`);
    }
    // Switching to WAL and migrating take locks that another process opening the same file may
    // hold for a moment; busy_timeout covers most of it, the retry covers the rest.
    for (let attempt = 1;; attempt++) {
      let db: DatabaseSync | undefined;
      try {
        db = new DatabaseSync(path);
        setup(db, path, opts);
        const store = new SqliteStore(db, path);
        opts.log?.debug("store opened", { path });
        return store;
      } catch (e) {
        db?.close();
        if (isBusy(e) && attempt < 5) {
          await new Promise((r) => setTimeout(r, 20 * attempt));
          continue;
        }
        throw e instanceof RuntimeError ? e : wrap(e, `Cannot open store "${path}"`);
      }
    }
  }

  /** The database file. */
  get path(): string {
    return this.#path;
  }

  save(key: string, value: unknown): Promise<void> {
    return settle(() => {
      const k = checkKey(key);
      const text = encodeValue(k, value);
      try {
        this.#save.run(k, text, Date.now());
      } catch (e) {
        throw wrap(e, `Cannot save store record "${k}"`);
      }
    });
  }

  load(key: string): Promise<unknown | undefined> {
    return settle(() => {
      const k = checkKey(key);
      let row: Record<string, unknown> | undefined;
      try {
        row = this.#load.get(k);
      } catch (e) {
        throw wrap(e, `Cannot load store record "${k}"`);
      }
      if (row === undefined) return undefined;
      const text = row["value"];
      if (typeof text !== "string") {
        throw new RuntimeError("DataLoss", `Cannot load store record "${k}": the stored value is not text`);
      }
      return decodeValue(k, text);
    });
  }

  delete(key: string): Promise<void> {
    return settle(() => {
      const k = checkKey(key);
      try {
        this.#delete.run(k);
      } catch (e) {
        throw wrap(e, `Cannot delete store record "${k}"`);
      }
    });
  }

  list(prefix?: string): Promise<string[]> {
    return settle(() => {
      const p = checkPrefix(prefix);
      let rows: Record<string, unknown>[];
      try {
        rows = p === "" ? this.#listAll.all() : this.#listRange.all(p, prefixEnd(p));
      } catch (e) {
        throw wrap(e, `Cannot list store records under "${p}"`);
      }
      const keys: string[] = [];
      for (const r of rows) {
        const k = r["key"];
        if (typeof k === "string") keys.push(k);
      }
      return keys;
    });
  }

  /** Closes the connection; later calls fail. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#db.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

function setup(db: DatabaseSync, path: string, opts: SqliteStoreOptions): void {
  db.exec(`PRAGMA busy_timeout = ${Math.max(0, Math.floor(opts.busyTimeoutMs ?? 5000))}`);
  const mode = db.prepare("PRAGMA journal_mode = WAL").get()?.["journal_mode"];
  if (mode !== "wal") {
    throw new RuntimeError(
      "FailedPrecondition",
      `Cannot open store "${path}": the file system does not support WAL mode: journal mode is ${
        JSON.stringify(mode)
      }`,
    );
  }
  db.exec(`PRAGMA synchronous = ${opts.synchronous === "normal" ? "NORMAL" : "FULL"}`);
  migrate(db, path);
}
