import assert from "node:assert/strict";
import { parseSsUnix, peersOf, roleOf } from "./owner.ts";

const SS =
  `u_str ESTAB 0      0     /run/x/sandboxes/sb1/vm/qmp.sock 100 * 101 users:(("qemu-system-x86",pid=7,fd=14))
u_str ESTAB 0      0                       * 101 * 100 users:(("deno",pid=55,fd=20),("deno",pid=55,fd=21))
u_str ESTAB 0      0     /run/x/sandboxes/sb1/vm/agent.sock 102 * 103 users:(("qemu-system-x86",pid=7,fd=15))
u_str ESTAB 0      0                       * 103 * 102 users:(("deno",pid=55,fd=22))
u_str ESTAB 0      0     /run/x/sandboxes/sb2/vm/qmp.sock 200 * 201
garbage line
`;

Deno.test({
  name: "parseSsUnix() reads inodes, peers and pids of connected unix sockets",
  permissions: "none",
  fn() {
    const e = parseSsUnix(SS);
    assert.equal(e.length, 5);
    assert.deepEqual(e[1], { local: "*", inode: 101, peerInode: 100, pids: [55] });
    assert.deepEqual(e[4]?.pids, []);
  },
});

Deno.test({
  name: "peersOf() finds the process connected to a listening socket, and none when no one is",
  permissions: "none",
  fn() {
    const e = parseSsUnix(SS);
    assert.deepEqual(peersOf("/run/x/sandboxes/sb1/vm/qmp.sock", e), [55]);
    assert.deepEqual(peersOf("/run/x/sandboxes/sb2/vm/qmp.sock", e), []);
    assert.deepEqual(peersOf("/nowhere", e), []);
  },
});

Deno.test({
  name: "roleOf() tells the daemon, the sandboxer, a holder and a program apart",
  permissions: "none",
  fn() {
    assert.equal(roleOf(["/usr/bin/cocoon", "daemon"]), "daemon");
    assert.equal(
      roleOf(["deno", "run", "-A", "main.ts", "--debug", "sandboxer", "--listen", "x"]),
      "sandboxer",
    );
    assert.equal(roleOf(["cocoon", "__holder", "c1"]), "holder");
    assert.equal(roleOf(["deno", "run", "prog.ts"]), "program");
  },
});
