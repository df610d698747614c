import assert from "node:assert/strict";
import { consoleSocketPath, nameDigest } from "./env.ts";

Deno.test("consoleSocketPath() keeps short names and digests names a socket path cannot hold", () => {
  assert.equal(consoleSocketPath("/run/cocoon/state", "web"), "/run/cocoon/state/web.console.sock");
  const pod = "a".repeat(64);
  const exec = "b".repeat(64);
  const long = consoleSocketPath("/run/cocoon/state", `${pod}.${exec}`);
  assert.ok(new TextEncoder().encode(long).length <= 107, long);
  assert.match(long, /^\/run\/cocoon\/state\/c-[0-9a-f]{24}\.sock$/);
  assert.notEqual(long, consoleSocketPath("/run/cocoon/state", `${pod}.${"c".repeat(64)}`));
});

Deno.test("nameDigest() is FNV-1a 64 (known vectors) twice, 24 hex digits, and tells names apart", () => {
  assert.equal(nameDigest("").slice(0, 16), "cbf29ce484222325");
  assert.equal(nameDigest("a").slice(0, 16), "af63dc4c8601ec8c");
  assert.equal(nameDigest("foobar").slice(0, 16), "85944171f73967e8");
  assert.match(nameDigest("web"), /^[0-9a-f]{24}$/);
  const seen = new Set(Array.from({ length: 2000 }, (_, i) => nameDigest(`pod-${i}.exec-${i * 7}`)));
  assert.equal(seen.size, 2000);
});
