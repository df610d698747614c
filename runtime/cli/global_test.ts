import assert from "node:assert/strict";
import { splitGlobalArgs } from "./global.ts";

Deno.test({
  name: "splitGlobalArgs() takes runc's global flags before the verb",
  permissions: "none",
  fn() {
    const s = splitGlobalArgs([
      "--root",
      "/run/containerd/runc/default",
      "--log",
      "/b/log.json",
      "--log-format=json",
      "--systemd-cgroup",
      "create",
      "--bundle",
      "/b",
      "id1",
    ]);
    assert.equal(s.verb, "create");
    assert.deepEqual(s.rest, ["--bundle", "/b", "id1"]);
    assert.equal(s.globals.root, "/run/containerd/runc/default");
    assert.equal(s.globals.log, "/b/log.json");
    assert.equal(s.globals.logFormat, "json");
    assert.equal(s.globals.systemdCgroup, true);
  },
});

Deno.test({
  name: "splitGlobalArgs() refuses unknown flags and bad values clearly",
  permissions: "none",
  fn() {
    assert.throws(() => splitGlobalArgs(["--bogus", "check"]), /Unknown global flag "--bogus"/);
    assert.throws(
      () => splitGlobalArgs(["--log-format", "xml"]),
      /must be text or json: current value is "xml"/,
    );
    assert.throws(() => splitGlobalArgs(["--root"]), /needs a value/);
    assert.equal(splitGlobalArgs(["--version"]).globals.version, true);
  },
});
