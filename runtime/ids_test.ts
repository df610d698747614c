import assert from "node:assert/strict";
import { containerId, macAddress, sandboxId } from "./ids.ts";

Deno.test({
  name: "sandboxId() accepts runc-style ids and refuses traversal, empties and long ids",
  permissions: "none",
  fn() {
    assert.equal(sandboxId("pod-1_a.b+c"), "pod-1_a.b+c");
    for (const bad of ["", ".", "..", "../x", "a/b", "a b", "x".repeat(129), ".hidden"]) {
      assert.throws(() => containerId(bad), { code: "InvalidArgument" });
    }
  },
});

Deno.test({
  name: "macAddress() normalises case and refuses malformed input",
  permissions: "none",
  fn() {
    assert.equal(macAddress("02:AB:00:00:00:01"), "02:ab:00:00:00:01");
    assert.throws(() => macAddress("02:ab:00:00:00"), { code: "InvalidArgument" });
  },
});
