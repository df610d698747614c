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

Deno.test({
  name: "vmSpecDocument() writes a 1.1 spec (containerd 1.7) as 1.0.2 for the guest's crun",
  permissions: "none",
  fn() {
    assert.equal(vmSpecDocument({ ociVersion: "1.1.0" })["ociVersion"], "1.0.2");
    assert.equal(vmSpecDocument({ ociVersion: "1.0.2-dev" })["ociVersion"], "1.0.2-dev");
  },
});
