import assert from "node:assert/strict";
import { isStrayOf } from "./strays.ts";

const DIR = "/run/cocoon/sandboxes/web";

Deno.test("isStrayOf() finds the sandbox's QEMU and virtiofsd, not a same-named VM of another root", () => {
  const qemu = {
    pid: 10,
    argv: [
      "/usr/bin/qemu-system-x86_64",
      "-name",
      "cocoon-web,debug-threads=on",
      "-qmp",
      `unix:${DIR}/vm/qmp.sock`,
    ],
  };
  const fsd = {
    pid: 11,
    argv: ["/x/ld.so", "/x/usr/libexec/virtiofsd", "--socket-path", `${DIR}/virtiofsd/v.sock`],
  };
  const otherRoot = {
    pid: 12,
    argv: ["qemu-system-x86_64", "-name", "cocoon-web", "-qmp", "unix:/tmp/other/sandboxes/web/vm/qmp.sock"],
  };
  const otherId = {
    pid: 13,
    argv: ["qemu-system-x86_64", "-name", "cocoon-webx", "-qmp", `unix:${DIR}x/vm/q`],
  };
  const shell = { pid: 14, argv: ["sh", "-c", `ls ${DIR}/`] };
  assert.ok(isStrayOf(qemu, "web", DIR));
  assert.ok(isStrayOf(fsd, "web", DIR));
  assert.ok(!isStrayOf(otherRoot, "web", DIR));
  assert.ok(!isStrayOf(otherId, "web", DIR));
  assert.ok(!isStrayOf(shell, "web", DIR));
});
