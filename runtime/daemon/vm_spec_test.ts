import assert from "node:assert/strict";
import { vmSpecDocument } from "./vm_spec.ts";

Deno.test({
  name: "vmSpecDocument() gives a hostname without a UTS namespace its own one, and leaves the rest alone",
  permissions: "none",
  fn() {
    const hostNet = { hostname: "web", linux: { namespaces: [{ type: "pid" }, { type: "ipc" }] } };
    assert.deepEqual(vmSpecDocument(hostNet), {
      hostname: "web",
      linux: { namespaces: [{ type: "pid" }, { type: "ipc" }, { type: "uts" }] },
    });
    const withUts = { hostname: "web", linux: { namespaces: [{ type: "uts" }] } };
    assert.equal(vmSpecDocument(withUts), withUts);
    const noName = { linux: { namespaces: [] } };
    assert.equal(vmSpecDocument(noName), noName);
  },
});
