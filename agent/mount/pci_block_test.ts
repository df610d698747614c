import assert from "node:assert/strict";
import { isPciSource } from "./pci_block.ts";

Deno.test({
  name: "isPciSource() recognises PCI device paths and refuses traversal",
  permissions: "none",
  fn() {
    assert.ok(isPciSource("/sys/bus/pci/devices/0000:01:00.0"));
    assert.ok(!isPciSource("/dev/vdb"));
    assert.ok(!isPciSource("/sys/bus/pci/devices/../../../etc"));
  },
});
