import assert from "node:assert/strict";
import { specRootPath } from "./create.ts";

Deno.test({
  name: "specRootPath() resolves root.path against the bundle and ignores a missing root",
  permissions: "none",
  fn() {
    assert.equal(specRootPath({ root: { path: "/run/x/rootfs" } }, "/b"), "/run/x/rootfs");
    assert.equal(specRootPath({ root: { path: "rootfs" } }, "/b"), "/b/rootfs");
    assert.equal(specRootPath({}, "/b"), undefined);
    assert.equal(specRootPath(null, "/b"), undefined);
  },
});
