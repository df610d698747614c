import assert from "node:assert/strict";
import fc from "fast-check";
import * as keys from "./store_keys.ts";
import { BAD_KEYS } from "../../plugins/store/_test_contract.ts";

function verdict(f: (s: string) => string, s: string): string {
  try {
    f(s);
    return "ok";
  } catch (e) {
    return e instanceof Error && "code" in e ? String(e.code) : "other";
  }
}

const alphabet = fc.constantFrom(..."ab/._-+@ \0\u00fc:".split(""));
const candidate = fc.oneof(
  fc.string({ unit: alphabet, maxLength: 24 }),
  fc.string({ unit: alphabet, minLength: 500, maxLength: 520 }),
);

Deno.test({
  name: "checkKey() accepts only keys that are safe as relative paths",
  permissions: "none",
  fn() {
    fc.assert(
      fc.property(candidate, (s) => {
        const a = verdict(keys.checkKey, s);
        assert.ok(a === "ok" || a === "InvalidArgument", a);
        if (a === "ok") {
          assert.match(s, /^[A-Za-z0-9_.+\-/]+$/);
          assert.ok(s.length <= keys.MAX_KEY_LENGTH && !s.includes("..") && !s.startsWith("/"));
          assert.ok(s.split("/").every(keys.isKeySegment), s);
        }
      }),
      { numRuns: 20_000 },
    );
  },
});

Deno.test({
  name: "checkPrefix() accepts the empty prefix and every valid key, with or without a trailing slash",
  permissions: "none",
  fn() {
    assert.equal(keys.checkPrefix(undefined), "");
    assert.equal(keys.checkPrefix(""), "");
    assert.equal(keys.checkPrefix("a/."), "a/.");
    fc.assert(
      fc.property(candidate, (s) => {
        const a = verdict(keys.checkPrefix, s);
        if (verdict(keys.checkKey, s) === "ok") {
          assert.equal(a, "ok");
          if (s.length < keys.MAX_KEY_LENGTH) assert.equal(verdict(keys.checkPrefix, `${s}/`), "ok");
        }
      }),
      { numRuns: 20_000 },
    );
    for (const k of BAD_KEYS) assert.equal(verdict(keys.checkKey, k), "InvalidArgument", JSON.stringify(k));
  },
});
