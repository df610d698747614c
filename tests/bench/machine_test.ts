import assert from "node:assert/strict";
import { parseQemuVersion } from "./machine.ts";

Deno.test({
  name: "parseQemuVersion() takes the version from qemu's first line, unknown otherwise",
  permissions: "none",
  fn() {
    assert.equal(
      parseQemuVersion("QEMU emulator version 7.2.19 (Debian 1:7.2+dfsg-7+deb12u18)\nCopyright"),
      "7.2.19",
    );
    assert.equal(parseQemuVersion(""), "unknown");
  },
});
