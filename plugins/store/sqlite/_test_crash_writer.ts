/**
 * Child process of the sqlite store's crash and concurrency tests: `deno run --allow-read=<root>
 * --allow-write=<root> _test_crash_writer.ts <root> <keyspace> <count>` (count 0 = until killed).
 *
 * @module
 */
import { SqliteStore } from "./sqlite_store.ts";
import { DB_FILE } from "./mod.ts";
import { runWriter } from "../_test_writer.ts";

const [root = "", keyspace = "w", count = "0"] = Deno.args;
const store = await SqliteStore.open({ path: `${root}/${DB_FILE}` });
try {
  await runWriter(store, keyspace, Number(count));
} finally {
  store.close();
}
