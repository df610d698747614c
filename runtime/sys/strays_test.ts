import assert from "node:assert/strict";
import { isHolderOf, isStrayOf } from "./strays.ts";

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

Deno.test("isHolderOf() finds a creating holder of the id under the same root only", () => {
  const argv = ["/x/deno", "run", "/x/cocoon.js", "--root", "/run/r", "__holder", "--bundle", "/b", "web"];
  assert.ok(isHolderOf({ pid: 1, argv }, "web", "/run/r"));
  assert.ok(!isHolderOf({ pid: 1, argv }, "web", "/run/other"));
  assert.ok(!isHolderOf({ pid: 1, argv }, "we", "/run/r"));
  assert.ok(!isHolderOf({ pid: 1, argv: argv.filter((a) => a !== "__holder") }, "web", "/run/r"));
});
