import assert from "node:assert/strict";
import { parsePlan, parseReport } from "./pod_owner.ts";

const plan = { config: "/c.toml", rootfs: "/r", pods: 20, parallel: true, single: true, prefix: "temp-ab12" };

Deno.test({
  name: "parsePlan() accepts a full plan and refuses bad pod counts or prefixes",
  permissions: "none",
  fn() {
    assert.deepEqual(parsePlan(JSON.stringify(plan)), plan);
    assert.throws(() => parsePlan(JSON.stringify({ ...plan, pods: 0 })), /Cannot parse plan/);
    assert.throws(() => parsePlan(JSON.stringify({ ...plan, pods: 2.5 })), /Cannot parse plan/);
    assert.throws(() => parsePlan(JSON.stringify({ ...plan, prefix: "a b" })), /Cannot parse plan/);
    assert.throws(() => parsePlan(JSON.stringify({ ...plan, extra: 1 })), /Cannot parse plan/);
  },
});

Deno.test({
  name: "parseReport() reads a ready line and turns an error line into a thrown error",
  permissions: "none",
  fn() {
    const ready = {
      kind: "ready",
      singleMs: null,
      wallMs: 10,
      podMs: [1, 2],
      qemuPids: [10, 11],
      restored: 0,
      failures: ["pod 3: boom"],
    };
    assert.deepEqual(parseReport(JSON.stringify(ready)), ready);
    assert.throws(() => parseReport('{"kind":"error","message":"boom"}'), /The pod owner failed: boom/);
    assert.throws(() => parseReport('{"kind":"ready"}'), /Cannot parse owner report/);
  },
});
