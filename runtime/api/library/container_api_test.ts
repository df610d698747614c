import assert from "node:assert/strict";
import { isRuntimeError } from "../../errors.ts";
import { minimalSpec } from "../../oci/spec.ts";
import { containerSpec, execProcessSpec } from "./container_api.ts";

const invalid = (e: unknown) => isRuntimeError(e) && e.code === "InvalidArgument";

Deno.test({
  name: "containerSpec() builds the simple form: args, env merged over PATH/TERM, cwd, terminal",
  permissions: "none",
  fn() {
    const s = containerSpec({
      id: "c1",
      rootfs: "/r",
      args: ["sh", "-c", "echo $A"],
      env: { A: "1", TERM: "dumb" },
      cwd: "/tmp",
      terminal: true,
    });
    assert.deepEqual(s.process?.args, ["sh", "-c", "echo $A"]);
    assert.equal(s.process?.cwd, "/tmp");
    assert.equal(s.process?.terminal, true);
    const env = s.process?.env ?? [];
    assert.ok(env.includes("A=1"));
    assert.ok(env.includes("TERM=dumb"));
    assert.ok(!env.includes("TERM=xterm"));
    assert.ok(env.some((e) => e.startsWith("PATH=")));
  },
});

Deno.test({
  name: "containerSpec() takes a full OCI spec as is and refuses it mixed with the simple form",
  permissions: "none",
  fn() {
    const s = containerSpec({ id: "c1", rootfs: "/r", spec: minimalSpec(["sleep", "1"]) });
    assert.deepEqual(s.process?.args, ["sleep", "1"]);
    assert.throws(
      () => containerSpec({ id: "c1", rootfs: "/r", spec: minimalSpec(["x"]), cwd: "/" }),
      invalid,
    );
    assert.throws(() => containerSpec({ id: "c1", rootfs: "/r", spec: { ociVersion: 1 } }), invalid);
    assert.throws(() => containerSpec({ id: "c1", rootfs: "/r", args: [] }), invalid);
    assert.throws(() => containerSpec({ id: "c1", rootfs: "/r", args: ["x"], env: { "A=B": "1" } }), invalid);
  },
});

Deno.test({
  name: "execProcessSpec() sets user, env and cwd of an exec and refuses empty args",
  permissions: "none",
  fn() {
    const p = execProcessSpec("c1", {
      args: ["id"],
      user: { uid: 1000, gid: 100 },
      env: { X: "y" },
      cwd: "/",
    });
    assert.deepEqual(p.args, ["id"]);
    assert.deepEqual([p.raw["user"]], [{ uid: 1000, gid: 100 }]);
    assert.ok(p.env.includes("X=y"));
    assert.throws(() => execProcessSpec("c1", { args: [] }), invalid);
  },
});
