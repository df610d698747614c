/**
 * Schema of the sqlite store and its migrations. The schema version lives in `PRAGMA user_version`;
 * migration `i` takes a database from version `i` to `i + 1`, all in one write transaction so
 * that processes opening the store at the same time migrate it exactly once.
 *
 * @module
 */
import type { DatabaseSync } from "node:sqlite";
import { RuntimeError } from "../../../runtime/errors.ts";

type Migration = (db: DatabaseSync) => void;

const MIGRATIONS: readonly Migration[] = [
  // 0 -> 1: the records table. BINARY collation (the default) orders keys by bytes, which the
  // range query of `list` relies on.
  (db) =>
    db.exec(`CREATE TABLE records (
      key TEXT PRIMARY KEY NOT NULL,
      value TEXT NOT NULL,
      updated_at INTEGER
    )`),
];

/** The version this code writes and reads. */
export const SCHEMA_VERSION: number = MIGRATIONS.length;

/** The database's `user_version`. */
export function schemaVersion(db: DatabaseSync): number {
  const row = db.prepare("PRAGMA user_version").get();
  const v = row?.["user_version"];
  if (typeof v !== "number" && typeof v !== "bigint") {
    throw new RuntimeError(
      "Internal",
      "Cannot read the store schema version: PRAGMA user_version gave no number",
    );
  }
  return Number(v);
}

/** Brings the database to {@link SCHEMA_VERSION}; refuses a database written by a newer Cocoon. */
export function migrate(db: DatabaseSync, path: string): void {
  if (schemaVersion(db) === SCHEMA_VERSION) return;
  db.exec("BEGIN IMMEDIATE"); // takes the write lock, so the version read below is stable
  try {
    const from = schemaVersion(db);
    if (from > SCHEMA_VERSION) {
      throw new RuntimeError(
        "FailedPrecondition",
        `Cannot open store "${path}": schema version ${from} is newer than this Cocoon's ${SCHEMA_VERSION}`,
      );
    }
    for (let v = from; v < SCHEMA_VERSION; v++) MIGRATIONS[v]?.(db);
    db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
    db.exec("COMMIT");
  } catch (e) {
    db.exec("ROLLBACK");
    throw e;
  }
}
