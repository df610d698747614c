import assert from "node:assert/strict";
import { isRuntimeError } from "../errors.ts";
import { resolvePath } from "./bundle.ts";
import { minimalSpec, parseOciProcess, parseOciSpec, parseOciSpecText } from "./spec.ts";

Deno.test({
  name: "parseOciSpec() reads process, root, mounts, annotations and the network namespace path",
  permissions: "none",
  fn() {
    const raw = {
      ...minimalSpec(["sh", "-c", "exit 7"], { terminal: true }),
      annotations: { "io.cocoon.config.hypervisor.default_memory": "1024" },
      linux: { namespaces: [{ type: "pid" }, { type: "network", path: "/var/run/netns/cni-1" }] },
    };
    const s = parseOciSpec(raw, "config.json");
    assert.deepEqual(s.process?.args, ["sh", "-c", "exit 7"]);
    assert.equal(s.process?.terminal, true);
    assert.deepEqual(s.root, { path: "rootfs", readonly: false });
    assert.equal(s.mounts.length, 6);
    assert.equal(s.netns, "/var/run/netns/cni-1");
    assert.equal(s.annotations["io.cocoon.config.hypervisor.default_memory"], "1024");
    assert.equal(s.raw["hostname"], "cocoon");
  },
});

Deno.test({
  name: "parseOciSpec() refuses malformed specs with InvalidArgument naming the field",
  permissions: "none",
  fn() {
    const check = (json: unknown, re: RegExp) =>
      assert.throws(() => parseOciSpec(json, "b/config.json"), (e) => {
        assert.ok(isRuntimeError(e));
        assert.equal(e.code, "InvalidArgument");
        assert.match(e.message, re);
        return true;
      });
    check({}, /field "ociVersion"/);
    check({ ...minimalSpec(["x"]), root: {} }, /field "root.path"/);
    check({ ...minimalSpec([]) }, /field "process.args": must name a program/);
    check(
      { ...minimalSpec(["x"]), mounts: [{ destination: "rel" }] },
      /field "mounts.0.destination": must be an absolute path/,
    );
    assert.throws(() => parseOciSpecText("{", "c.json"), /Invalid OCI spec "c.json": it is not JSON/);
    assert.throws(
      () => parseOciProcess({ args: ["x"], cwd: "/", env: ["NOEQUALS"] }, "p.json"),
      /field "env.0"/,
    );
  },
});

Deno.test({
  name: "resolvePath() joins relative paths and normalises dots",
  permissions: "none",
  fn() {
    assert.equal(resolvePath("/b/bundle", "rootfs"), "/b/bundle/rootfs");
    assert.equal(resolvePath("/b/bundle", "/abs/r"), "/abs/r");
    assert.equal(resolvePath("/b/bundle/", "./x/../rootfs"), "/b/bundle/rootfs");
  },
});
