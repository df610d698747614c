import assert from "node:assert/strict";
import { breakdownSmaps } from "./qemu_memory.ts";

const map = (range: string, perms: string, name: string, pss: number) =>
  `${range} ${perms} 00000000 00:00 0    ${name}\nSize: 1 kB\nPss:  ${pss} kB\nRss: 1 kB`;

Deno.test({
  name:
    "breakdownSmaps() puts each mapping's PSS in guest RAM, TCG, the DAX image, malloc, binaries or other",
  permissions: "none",
  fn() {
    const text = [
      map("7f0000000000-7f0020000000", "rw-s", "/memfd:memory-backend-memfd (deleted)", 120000), // 512 MiB
      map("7f0030000000-7f0033fff000", "rwxp", "", 65000),
      map("7f0040000000-7f0046c00000", "r--s", "/var/lib/cocoon/guest/x/rootfs.erofs", 40000),
      map("7f0050000000-7f0051000000", "rw-p", "", 9000),
      map("55aa00000000-55aa01000000", "rw-p", "[heap]", 6000),
      map("55ab00000000-55ab00600000", "r-xp", "/usr/bin/qemu-system-x86_64", 5000),
      map("7ffc00000000-7ffc00021000", "rw-p", "[stack]", 100),
    ].join("\n");
    assert.deepEqual(breakdownSmaps(text, 512 * 1024), {
      "guest RAM": 120000,
      "TCG translation buffer": 65000,
      "userland image (DAX, shared)": 40000,
      "heap and malloc arenas": 15000,
      "binary and libraries": 5000,
      "other": 100,
    });
    assert.equal(breakdownSmaps("", 1)["guest RAM"], 0);
  },
});
