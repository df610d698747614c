import assert from "node:assert/strict";
import { consoleSocketPath } from "./env.ts";

Deno.test("consoleSocketPath() keeps short names and digests names a socket path cannot hold", () => {
  assert.equal(consoleSocketPath("/run/cocoon/state", "web"), "/run/cocoon/state/web.console.sock");
  const pod = "a".repeat(64);
  const exec = "b".repeat(64);
  const long = consoleSocketPath("/run/cocoon/state", `${pod}.${exec}`);
  assert.ok(new TextEncoder().encode(long).length <= 107, long);
  assert.match(long, /^\/run\/cocoon\/state\/c-[0-9a-f]{24}\.sock$/);
  assert.notEqual(long, consoleSocketPath("/run/cocoon/state", `${pod}.${"c".repeat(64)}`));
});
