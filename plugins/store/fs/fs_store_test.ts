import assert from "node:assert/strict";
import { createLogger, nullSink } from "../../../runtime/log/logger.ts";
import { isRuntimeError } from "../../../runtime/errors.ts";
import { defineStoreContract, withTempDir } from "../_test_contract.ts";
import plugin, { FsStore, fsStoreRoot, manifest, RECORD_FILE, TEMP_PREFIX } from "./mod.ts";

defineStoreContract({
  name: "fs",
  permissions: manifest.permissions,
  open: (root) => FsStore.open({ root }),
  writer: new URL("./_test_crash_writer.ts", import.meta.url),
});

const permissions = manifest.permissions;

Deno.test({
  name: "FsStore.save() writes one JSON file per key, mode 0600, in one directory per sandbox",
  permissions,
  async fn() {
    await withTempDir(async (root) => {
      const store = await FsStore.open({ root });
      await store.save("sandboxes/sb1", { id: "sb1" });
      await store.save("sandboxes/sb1/containers/c1", { id: "c1" });
      const file = `${root}/sandboxes/sb1/${RECORD_FILE}`;
      assert.deepEqual(JSON.parse(await Deno.readTextFile(file)), { id: "sb1" });
      assert.equal((await Deno.stat(file)).mode! & 0o777, 0o600);
      assert.ok((await Deno.stat(`${root}/sandboxes/sb1/containers/c1/${RECORD_FILE}`)).isFile);
      const names = (await Array.fromAsync(Deno.readDir(`${root}/sandboxes/sb1`))).map((e) => e.name).sort();
      assert.deepEqual(names, [RECORD_FILE, "containers"]);
    });
  },
});

Deno.test({
  name: "FsStore list() and load() ignore a stray temp file, and the next save() removes it once stale",
  permissions,
  async fn() {
    await withTempDir(async (root) => {
      const store = await FsStore.open({ root, staleTempMs: 60_000 });
      await store.save("sandboxes/sb1", { v: 1 });
      const dir = `${root}/sandboxes/sb1`;
      const stale = `${dir}/${TEMP_PREFIX}999999-abcdef`;
      const fresh = `${dir}/${TEMP_PREFIX}999999-fedcba`;
      await Deno.writeTextFile(stale, '{"v": 2, "tor'); // a torn write, as a crash leaves it
      await Deno.writeTextFile(fresh, '{"v": 3');
      const old = new Date(Date.now() - 120_000);
      await Deno.utime(stale, old, old);
      // A temp file in a directory with no record yet is not a key either.
      await Deno.mkdir(`${root}/sandboxes/sb2`);
      await Deno.writeTextFile(`${root}/sandboxes/sb2/${TEMP_PREFIX}1-00`, "{");
      // Directories no key can name (made by hand) are not walked into.
      await Deno.mkdir(`${root}/sandboxes/not a key`);
      await Deno.writeTextFile(`${root}/sandboxes/not a key/${RECORD_FILE}`, "{}");
      assert.deepEqual(await store.list(), ["sandboxes/sb1"]);
      assert.deepEqual(await store.load("sandboxes/sb1"), { v: 1 });
      assert.equal(await store.load("sandboxes/sb2"), undefined);
      await store.save("sandboxes/sb1", { v: 4 });
      assert.deepEqual(await store.load("sandboxes/sb1"), { v: 4 });
      const left = (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort();
      assert.deepEqual(left, [RECORD_FILE, `${TEMP_PREFIX}999999-fedcba`]); // the fresh one may be a live writer's
    });
  },
});

Deno.test({
  name: "FsStore.delete() removes the sandbox's directories once they are empty, never the root",
  permissions,
  async fn() {
    await withTempDir(async (root) => {
      const store = await FsStore.open({ root: `${root}/store` });
      await store.save("sandboxes/sb1", { s: 1 });
      await store.save("sandboxes/sb1/containers/c1", { c: 1 });
      await store.save("sandboxes/sb2", { s: 2 });
      await store.delete("sandboxes/sb1/containers/c1");
      assert.equal(await exists(`${root}/store/sandboxes/sb1/containers`), false);
      assert.equal(await exists(`${root}/store/sandboxes/sb1/${RECORD_FILE}`), true);
      await store.delete("sandboxes/sb1");
      assert.equal(await exists(`${root}/store/sandboxes/sb1`), false);
      await store.delete("sandboxes/sb2");
      assert.deepEqual(await Array.fromAsync(Deno.readDir(`${root}/store`)), []);
      assert.deepEqual(await store.list(), []);
    });
  },
});

Deno.test({
  name: "FsStore.load() reports a record that is not JSON as DataLoss",
  permissions,
  async fn() {
    await withTempDir(async (root) => {
      const store = await FsStore.open({ root });
      await Deno.mkdir(`${root}/sandboxes/x`, { recursive: true });
      await Deno.writeTextFile(`${root}/sandboxes/x/${RECORD_FILE}`, "{not json");
      await assert.rejects(
        () => store.load("sandboxes/x"),
        (e: unknown) => isRuntimeError(e) && e.code === "DataLoss",
      );
    });
  },
});

Deno.test({
  name: "fs plugin create() puts the store in config.root, else in runDir/store, and refuses a relative root",
  permissions,
  async fn() {
    await withTempDir(async (dir) => {
      const log = createLogger({ sink: nullSink });
      const a = await plugin.create({ log, config: {}, runDir: dir });
      await a.save("sandboxes/sb1", { a: 1 });
      assert.ok(await exists(`${dir}/store/sandboxes/sb1/${RECORD_FILE}`));
      const b = await plugin.create({ log, config: { root: `${dir}/elsewhere` }, runDir: dir });
      await b.save("k", { b: 1 });
      assert.ok(await exists(`${dir}/elsewhere/k/${RECORD_FILE}`));
      assert.throws(
        () => fsStoreRoot({ config: { root: "rel/dir" }, runDir: dir }),
        (e: unknown) => isRuntimeError(e) && e.code === "InvalidArgument",
      );
    });
  },
});

async function exists(p: string): Promise<boolean> {
  try {
    await Deno.lstat(p);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}
