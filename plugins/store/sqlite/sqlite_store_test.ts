import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { createLogger, nullSink } from "../../../runtime/log/logger.ts";
import { isRuntimeError } from "../../../runtime/errors.ts";
import { defineStoreContract, rejectsWith, withTempDir } from "../_test_contract.ts";
import plugin, {
  DB_FILE,
  manifest,
  SCHEMA_VERSION,
  schemaVersion,
  SqliteStore,
  sqliteStoreConfig,
} from "./mod.ts";

defineStoreContract({
  name: "sqlite",
  permissions: manifest.permissions,
  open: (root) => SqliteStore.open({ path: `${root}/${DB_FILE}` }),
  writer: new URL("./_test_crash_writer.ts", import.meta.url),
});

const permissions = manifest.permissions;

function pragma(db: DatabaseSync, name: string): unknown {
  return db.prepare(`PRAGMA ${name}`).get()?.[name];
}

Deno.test({
  name: "SqliteStore.open() sets WAL mode and the schema version and creates the records table",
  permissions,
  async fn() {
    await withTempDir(async (root) => {
      const path = `${root}/sub/${DB_FILE}`;
      const store = await SqliteStore.open({ path });
      try {
        await store.save("sandboxes/sb1", { a: 1 });
      } finally {
        store.close();
      }
      const db = new DatabaseSync(path);
      try {
        assert.equal(pragma(db, "journal_mode"), "wal");
        assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
        assert.equal((await Deno.stat(`${path}-wal`)).mode! & 0o777, 0o600);
        assert.equal(schemaVersion(db), SCHEMA_VERSION);
        assert.equal(SCHEMA_VERSION, 1);
        const cols = db.prepare("PRAGMA table_info(records)").all().map((
          r,
        ) => [r["name"], r["type"], r["pk"]]);
        assert.deepEqual(cols, [["key", "TEXT", 1], ["value", "TEXT", 0], ["updated_at", "INTEGER", 0]]);
        const row = db.prepare("SELECT value, updated_at FROM records WHERE key = ?").get("sandboxes/sb1");
        assert.equal(row?.["value"], '{"a":1}');
        assert.ok(typeof row?.["updated_at"] === "number" && row["updated_at"] > 1.7e12);
      } finally {
        db.close();
      }
    });
  },
});

Deno.test({
  name: "SqliteStore.open() migrates an empty version-0 database and refuses one from a newer schema",
  permissions,
  async fn() {
    await withTempDir(async (root) => {
      const old = `${root}/old.db`;
      new DatabaseSync(old).close(); // an empty file at user_version 0
      const store = await SqliteStore.open({ path: old });
      await store.save("k", { v: 1 });
      store.close();
      const newer = `${root}/newer.db`;
      const db = new DatabaseSync(newer);
      db.exec("PRAGMA user_version = 99");
      db.close();
      await rejectsWith(() => SqliteStore.open({ path: newer }), "FailedPrecondition");
    });
  },
});

Deno.test({
  name: "SqliteStore list() uses the range query: prefixes ending in any key character bound correctly",
  permissions,
  async fn() {
    await withTempDir(async (root) => {
      const store = await SqliteStore.open({ path: `${root}/${DB_FILE}` });
      try {
        // The bound is the prefix with its last character + 1: "/" gives "0", "9" gives ":", "_" gives "`".
        for (const k of ["a/b", "a0", "a9", "a_", "az", "b"]) await store.save(k, {});
        assert.deepEqual(await store.list("a/"), ["a/b"]);
        assert.deepEqual(await store.list("az"), ["az"]);
        assert.deepEqual(await store.list("a9"), ["a9"]);
        assert.deepEqual(await store.list("a_"), ["a_"]);
        assert.deepEqual(await store.list("a"), ["a/b", "a0", "a9", "a_", "az"]);
        // A prefix is data in a bound parameter: LIKE wildcards mean nothing.
        await rejectsWith(() => store.list("a%"), "InvalidArgument");
      } finally {
        store.close();
      }
    });
  },
});

Deno.test({
  name: "SqliteStore.load() reports a value that is not JSON as DataLoss, and calls after close() reject",
  permissions,
  async fn() {
    await withTempDir(async (root) => {
      const path = `${root}/${DB_FILE}`;
      const store = await SqliteStore.open({ path });
      const db = new DatabaseSync(path);
      db.prepare("INSERT INTO records (key, value, updated_at) VALUES (?, ?, 0)").run(
        "sandboxes/x",
        "{not json",
      );
      db.close();
      await rejectsWith(() => store.load("sandboxes/x"), "DataLoss");
      store.close();
      store.close();
      await assert.rejects(() => store.load("sandboxes/x"));
    });
  },
});

Deno.test({
  name: "sqlite plugin create() opens runDir/store/store.db by default and validates its config",
  permissions,
  async fn() {
    await withTempDir(async (dir) => {
      const log = createLogger({ sink: nullSink });
      const store = await plugin.create({ log, config: { synchronous: "normal" }, runDir: dir });
      await store.save("sandboxes/sb1", { a: 1 });
      assert.ok((await Deno.stat(`${dir}/store/${DB_FILE}`)).isFile);
      assert.ok(store instanceof SqliteStore);
      store.close();
      assert.deepEqual(sqliteStoreConfig({ config: { root: "/x/" }, runDir: dir }), {
        path: `/x/${DB_FILE}`,
        synchronous: "full",
      });
      for (const config of [{ root: "rel" }, { root: 5 }, { synchronous: "off" }]) {
        assert.throws(
          () => sqliteStoreConfig({ config, runDir: dir }),
          (e: unknown) => isRuntimeError(e) && e.code === "InvalidArgument",
        );
      }
    });
  },
});
