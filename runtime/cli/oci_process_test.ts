import assert from "node:assert/strict";
import { execProcessFrom, parseUser } from "./oci_process.ts";

const base = {
  cwd: "/",
  env: ["PATH=/bin"],
  user: { uid: 0, gid: 0 },
  args: ["sh"],
  capabilities: { bounding: [] },
};
const flags = { args: ["ls", "-l"], tty: false, env: [], additionalGids: [], noNewPrivs: false };

Deno.test({
  name: "execProcessFrom() keeps the container's process and applies runc's exec flags",
  permissions: "none",
  fn() {
    const p = execProcessFrom(base, { ...flags, env: ["A=1"], cwd: "/tmp", user: "1000:100", tty: true });
    assert.deepEqual(p["args"], ["ls", "-l"]);
    assert.deepEqual(p["env"], ["PATH=/bin", "A=1"]);
    assert.equal(p["cwd"], "/tmp");
    assert.deepEqual(p["user"], { uid: 1000, gid: 100 });
    assert.equal(p["terminal"], true);
    assert.deepEqual(p["capabilities"], { bounding: [] });
    const g = execProcessFrom(base, { ...flags, additionalGids: ["5", "6"] });
    assert.deepEqual(g["user"], { uid: 0, gid: 0, additionalGids: [5, 6] });
  },
});

Deno.test({
  name: "execProcessFrom() refuses no command, a bad env entry, a relative cwd and a malformed user",
  permissions: "none",
  fn() {
    assert.throws(() => execProcessFrom(base, { ...flags, args: [] }), /give a command or --process FILE/);
    assert.throws(() => execProcessFrom(base, { ...flags, env: ["NOEQUALS"] }), /Invalid OCI process/);
    assert.throws(() => execProcessFrom(base, { ...flags, cwd: "tmp" }), /field "cwd"/);
    assert.throws(() => parseUser("ro ot"), /expected uid\[:gid\] as numbers or user\[:group\] as names/);
    assert.throws(() => parseUser("1:"), /Invalid --user "1:"/);
    assert.deepEqual(parseUser("7"), { uid: 7, gid: 0 });
    assert.deepEqual(parseUser("app:staff"), { uid: 0, gid: 0, username: "app:staff" });
    const named = execProcessFrom(base, { ...flags, user: "nobody" });
    assert.deepEqual(named["user"], { uid: 0, gid: 0, username: "nobody" });
  },
});
