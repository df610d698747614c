import assert from "node:assert/strict";
import { debFileName, parseStanzas } from "./apt.ts";

Deno.test({
  name: "parseStanzas() reads name, version and the first alternative of each dependency",
  permissions: "none",
  fn() {
    const text = `Package: crun
Version: 1.8.1-1+deb12u1
Architecture: amd64
Depends: libc6 (>= 2.34), libcap2 (>= 1:2.10), libseccomp2 | libfoo, libsystemd0
Description: x
 more text

Package: busybox-static
Version: 1:1.35.0-4+deb12u1+b1
Architecture: amd64
Pre-Depends: libc6:any
`;
    const [a, b] = parseStanzas(text);
    assert.deepEqual(a, {
      name: "crun",
      version: "1.8.1-1+deb12u1",
      architecture: "amd64",
      depends: ["libc6", "libcap2", "libseccomp2", "libsystemd0"],
    });
    assert.ok(b);
    assert.deepEqual(b.depends, ["libc6"]);
    assert.equal(debFileName(b), "busybox-static_1%3a1.35.0-4+deb12u1+b1_amd64.deb");
  },
});
