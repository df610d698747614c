/**
 * Child process of the fs store's crash and concurrency tests: `deno run --allow-read=<root>
 * --allow-write=<root> _test_crash_writer.ts <root> <keyspace> <count>` (count 0 = until killed).
 *
 * @module
 */
import { FsStore } from "./fs_store.ts";
import { runWriter } from "../_test_writer.ts";

const [root = "", keyspace = "w", count = "0"] = Deno.args;
await runWriter(await FsStore.open({ root }), keyspace, Number(count));
