import assert from "node:assert/strict";
import { ownCgroups, unlimited } from "./vmm_cgroup.ts";

Deno.test("vmm cgroup: the caller's groups per hierarchy, v1 and v2", () => {
  const m = ownCgroups("4:memory:/process_api/abc\n3:cpu,cpuacct:/\n0::/user.slice/x.scope\n");
  assert.equal(m.get("memory"), "/process_api/abc");
  assert.equal(m.get("cpu"), "/");
  assert.equal(m.get("cpuacct"), "/");
  assert.equal(m.get(""), "/user.slice/x.scope");
});

Deno.test("vmm cgroup: what counts as no memory limit", () => {
  assert.ok(unlimited("max\n"));
  assert.ok(unlimited("9223372036854771712\n"));
  assert.ok(!unlimited("268435456\n"));
  assert.ok(!unlimited(""));
});
