/**
 * The behavioural contract every {@link MetadataStore} plugin meets, as a test suite that each
 * store's `*_test.ts` registers against its own implementation: round trips, missing keys, list by
 * prefix, delete, key and value validation, reopening, two concurrent writer processes, and
 * SIGKILL at random moments during a tight write loop.
 *
 * Tests run with the plugin's manifest permissions. The two tests that spawn child writers add
 * `run` for the Deno binary only: a subprocess is outside Deno's sandbox, so the children are
 * started with `--allow-read=<root> --allow-write=<root>`, the store's own permission shape.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { MetadataStore } from "../types.ts";
import { isRuntimeError } from "../../runtime/errors.ts";
import { recordProblem, writerKey } from "./_test_writer.ts";

export interface StoreUnderTest {
  /** Plugin name, used in test names. */
  readonly name: string;
  /** The plugin manifest's permissions. */
  readonly permissions: Deno.PermissionOptionsObject;
  /** Opens a store whose data lives in the directory `root`. */
  open(root: string): Promise<MetadataStore & { close?(): void }>;
  /** The child writer script: args `<root> <keyspace> <count>`. */
  readonly writer: URL;
}

/** Runs `fn` with a fresh temp dir under /tmp (inside every store manifest) and removes it after. */
export async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ dir: "/tmp", prefix: "cocoon-store-test-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function withStore(
  s: StoreUnderTest,
  fn: (store: MetadataStore, root: string) => Promise<void>,
): Promise<void> {
  await withTempDir(async (root) => {
    const store = await s.open(root);
    try {
      await fn(store, root);
    } finally {
      store.close?.();
    }
  });
}

/** Asserts that `p` rejects (not throws) with a RuntimeError of `code`. */
export async function rejectsWith(p: () => Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isRuntimeError(e), `expected a RuntimeError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    return true;
  });
}

export const BAD_KEYS: readonly string[] = [
  "",
  "/sandboxes/a",
  "sandboxes/../etc",
  "..",
  "sandboxes/a/..",
  "a..b",
  "sandboxes/a\0b",
  "sandboxes/a b",
  "sandboxes/a/",
  "sandboxes//a",
  "./a",
  "a/./b",
  "sandboxes/\u00fc",
  "a:b",
  "a\\b",
  "a*",
  "@record.json",
  "x".repeat(513),
  `a/${"y".repeat(201)}`,
];

const GOOD_KEYS: readonly string[] = ["a", "A-b_c.d+e/f", `a/${"y".repeat(200)}`, ".hidden/x", "sandboxes0"];

const VALUES: readonly unknown[] = [
  { id: "sb-1", status: "running", pid: 1234, vm: { hypervisor: "qemu", vcpus: 2 }, tags: ["a", "b"] },
  { text: '\u00fcnic\u00f8de \u{1F600} "quotes" \\ \n', n: -1.5e-7, t: true, f: false, z: null },
  [1, 2, { deep: [[[]]] }],
  "a plain string",
  0,
  null,
];

function spawnWriter(s: StoreUnderTest, root: string, keyspace: string, count: number): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      "--no-prompt",
      `--allow-read=${root}`,
      `--allow-write=${root}`,
      s.writer.pathname,
      root,
      keyspace,
      String(count),
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/** Loads every listed record and checks it is whole; returns how many there were. */
async function checkAll(store: MetadataStore): Promise<number> {
  const keys = await store.list();
  for (const key of keys) {
    const v = await store.load(key);
    assert.notEqual(v, undefined, `listed key "${key}" does not load`);
    assert.equal(recordProblem(key, v), undefined, `record "${key}" is damaged`);
  }
  return keys.length;
}

/** Registers the contract suite for one store. */
export function defineStoreContract(s: StoreUnderTest): void {
  const permissions = s.permissions;
  const withChildren: Deno.PermissionOptionsObject = { ...s.permissions, run: [Deno.execPath()] };
  const t = (name: string) => `${s.name} store ${name}`;

  Deno.test({
    name: t("save() then load() gives back an equal value, and a second save() replaces it"),
    permissions,
    fn: () =>
      withStore(s, async (store) => {
        for (const [i, v] of VALUES.entries()) {
          await store.save(`sandboxes/sb${i}`, v);
          assert.deepEqual(await store.load(`sandboxes/sb${i}`), v);
        }
        await store.save("sandboxes/sb0", { status: "stopped" });
        assert.deepEqual(await store.load("sandboxes/sb0"), { status: "stopped" });
        for (const k of GOOD_KEYS) {
          await store.save(k, { k });
          assert.deepEqual(await store.load(k), { k });
        }
      }),
  });

  Deno.test({
    name: t("load() gives undefined for a key never saved or already deleted"),
    permissions,
    fn: () =>
      withStore(s, async (store) => {
        assert.equal(await store.load("sandboxes/none"), undefined);
        assert.equal(await store.load("sandboxes/none/containers/c1"), undefined);
        await store.save("sandboxes/x", { a: 1 });
        await store.delete("sandboxes/x");
        assert.equal(await store.load("sandboxes/x"), undefined);
      }),
  });

  Deno.test({
    name: t("list() gives the keys starting with the prefix, sorted"),
    permissions,
    fn: () =>
      withStore(s, async (store) => {
        const keys = [
          "sandboxes/sb1/containers/c2",
          "sandboxes/sb1",
          "sandboxes/sb10",
          "sandboxes/sb1/containers/c1",
          "sandboxes/sb1-x",
          "sandboxes0",
          "other/z",
        ];
        for (const k of keys) await store.save(k, { k });
        assert.deepEqual(await store.list(), [...keys].sort());
        assert.deepEqual(await store.list(""), [...keys].sort());
        assert.deepEqual(await store.list("sandboxes/"), [
          "sandboxes/sb1",
          "sandboxes/sb1-x",
          "sandboxes/sb1/containers/c1",
          "sandboxes/sb1/containers/c2",
          "sandboxes/sb10",
        ]);
        assert.deepEqual(await store.list("sandboxes/sb1/"), [
          "sandboxes/sb1/containers/c1",
          "sandboxes/sb1/containers/c2",
        ]);
        assert.deepEqual(await store.list("sandboxes/sb1/containers/c"), [
          "sandboxes/sb1/containers/c1",
          "sandboxes/sb1/containers/c2",
        ]);
        assert.deepEqual(await store.list("sandboxes/sb1"), [
          "sandboxes/sb1",
          "sandboxes/sb1-x",
          "sandboxes/sb1/containers/c1",
          "sandboxes/sb1/containers/c2",
          "sandboxes/sb10",
        ]);
        assert.deepEqual(await store.list("sandboxes"), keys.filter((k) => k.startsWith("sandboxes")).sort());
        assert.deepEqual(await store.list("nothing/"), []);
        await store.save("dots/.hidden", {});
        await store.save("dots/x", {});
        assert.deepEqual(await store.list("dots/."), ["dots/.hidden"]);
        assert.deepEqual(await store.list("sandboxes/sb2"), []);
      }),
  });

  Deno.test({
    name: t("delete() removes only that key and is a no-op for a missing key"),
    permissions,
    fn: () =>
      withStore(s, async (store) => {
        await store.save("sandboxes/sb1", { s: 1 });
        await store.save("sandboxes/sb1/containers/c1", { c: 1 });
        await store.save("sandboxes/sb2", { s: 2 });
        await store.delete("sandboxes/sb1");
        assert.deepEqual(await store.list(), ["sandboxes/sb1/containers/c1", "sandboxes/sb2"]);
        assert.deepEqual(await store.load("sandboxes/sb1/containers/c1"), { c: 1 });
        await store.delete("sandboxes/sb1/containers/c1");
        await store.delete("sandboxes/sb1/containers/c1");
        await store.delete("sandboxes/never");
        assert.deepEqual(await store.list(), ["sandboxes/sb2"]);
        await store.save("sandboxes/sb1/containers/c1", { c: 2 });
        assert.deepEqual(await store.load("sandboxes/sb1/containers/c1"), { c: 2 });
      }),
  });

  Deno.test({
    name: t("save(), load(), delete() and list() reject bad keys with InvalidArgument"),
    permissions,
    fn: () =>
      withStore(s, async (store) => {
        for (const k of BAD_KEYS) {
          await rejectsWith(() => store.save(k, { a: 1 }), "InvalidArgument");
          await rejectsWith(() => store.load(k), "InvalidArgument");
          await rejectsWith(() => store.delete(k), "InvalidArgument");
        }
        for (const p of ["/x", "a/../", "..", "a//", "a b", "\0"]) {
          await rejectsWith(() => store.list(p), "InvalidArgument");
        }
        assert.deepEqual(await store.list(), []);
      }),
  });

  Deno.test({
    name: t("save() rejects values that are not JSON with InvalidArgument"),
    permissions,
    fn: () =>
      withStore(s, async (store) => {
        const circular: Record<string, unknown> = {};
        circular["self"] = circular;
        for (const v of [undefined, () => 1, circular, 1n, Symbol("x")]) {
          await rejectsWith(() => store.save("sandboxes/bad", v), "InvalidArgument");
        }
        assert.equal(await store.load("sandboxes/bad"), undefined);
        assert.deepEqual(await store.list(), []);
      }),
  });

  Deno.test({
    name: t("a store opened again on the same root sees every record"),
    permissions,
    fn: () =>
      withTempDir(async (root) => {
        const a = await s.open(root);
        try {
          await a.save("sandboxes/sb1", { n: 1 });
          await a.save("sandboxes/sb1/containers/c1", { n: 2 });
        } finally {
          a.close?.();
        }
        const b = await s.open(root);
        try {
          assert.deepEqual(await b.list(), ["sandboxes/sb1", "sandboxes/sb1/containers/c1"]);
          assert.deepEqual(await b.load("sandboxes/sb1/containers/c1"), { n: 2 });
        } finally {
          b.close?.();
        }
      }),
  });

  Deno.test({
    name: t("two writer processes and two in-process handles on the same keys leave only whole records"),
    permissions: withChildren,
    fn: () =>
      withTempDir(async (root) => {
        const count = 120;
        const children = [spawnWriter(s, root, "shared", count), spawnWriter(s, root, "shared", count)];
        const a = await s.open(root);
        const b = await s.open(root);
        try {
          // Meanwhile, two handles in this process race on the same keys as well.
          await Promise.all([a, b].map(async (st) => {
            for (let i = 0; i < 60; i++) {
              const key = writerKey("local", i);
              await st.save(key, { kind: "test-record", key, payload: "", sum: 0x811c9dc5 });
            }
          }));
          const results = await Promise.all(children.map((c) => c.output()));
          for (const r of results) {
            assert.equal(r.code, 0, `writer failed: ${new TextDecoder().decode(r.stderr)}`);
          }
          const n = await checkAll(a);
          assert.ok(n >= 6, `expected records from both key spaces, found ${n}`);
          assert.deepEqual(await a.list(), await b.list());
          for (const k of await a.list("sandboxes/shared-")) assert.ok(k.startsWith("sandboxes/shared-"));
        } finally {
          a.close?.();
          b.close?.();
        }
      }),
  });

  Deno.test({
    name: t("SIGKILL of a writer at random moments never leaves a damaged record"),
    permissions: withChildren,
    fn: () =>
      withTempDir(async (root) => {
        const rounds = 10;
        for (let round = 0; round < rounds; round++) {
          const child = spawnWriter(s, root, `crash${round % 2}`, 0);
          const stderr = new Response(child.stderr).text();
          const reader = child.stdout.getReader();
          let seen = "";
          while (!seen.includes("ready")) {
            const { value, done } = await reader.read();
            if (done) {
              await child.status;
              assert.fail(`writer exited before it was ready: ${await stderr}`);
            }
            seen += new TextDecoder().decode(value);
          }
          await new Promise((r) => setTimeout(r, 10 + Math.random() * 250));
          child.kill("SIGKILL");
          const status = await child.status;
          assert.equal(status.signal, "SIGKILL", `writer ended on its own: ${await stderr}`);
          await reader.cancel();
          await stderr;
        }
        const store = await s.open(root);
        try {
          const n = await checkAll(store);
          assert.ok(n > 0, "the writers saved nothing");
          await store.save("sandboxes/after-crash", {
            kind: "test-record",
            key: "sandboxes/after-crash",
            payload: "",
            sum: 0x811c9dc5,
          });
          assert.equal(
            recordProblem("sandboxes/after-crash", await store.load("sandboxes/after-crash")),
            undefined,
          );
          await store.delete("sandboxes/after-crash");
        } finally {
          store.close?.();
        }
      }),
  });
}
