import assert from "node:assert/strict";
import { compareDebianVersions } from "./debian_version.ts";

Deno.test({
  name: "compareDebianVersions() orders versions the way dpkg does",
  permissions: "none",
  fn() {
    const sorted = [
      "1.0~rc1",
      "1.0",
      "1.0-1",
      "1.0-1+deb12u1",
      "1.0a",
      "1.2",
      "1.10",
      "6.1.192-2",
      "6.12.100-1~deb12u1",
      "6.12.117-1~deb12u1",
      "6.12.117-1",
      "1:0.1",
    ];
    for (let i = 0; i + 1 < sorted.length; i++) {
      const a = sorted[i] ?? "";
      const b = sorted[i + 1] ?? "";
      assert.ok(compareDebianVersions(a, b) < 0, `${a} < ${b}`);
      assert.ok(compareDebianVersions(b, a) > 0, `${b} > ${a}`);
    }
    assert.equal(compareDebianVersions("1:1.35.0-4+deb12u1+b1", "1:1.35.0-4+deb12u1+b1"), 0);
  },
});
