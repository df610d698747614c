import assert from "node:assert/strict";
import { isRuntimeError } from "../errors.ts";
import { parseCidr } from "./cidr.ts";
import { tapName, tapPrefix } from "./hotplug.ts";

Deno.test({
  name: "parseCidr() reads IPv4/IPv6 CIDR and bare addresses and refuses bad octets and prefixes",
  permissions: "none",
  fn() {
    assert.deepEqual(parseCidr("10.0.0.2/24"), { family: 4, address: "10.0.0.2", prefix: 24 });
    assert.deepEqual(parseCidr("10.0.0.2"), { family: 4, address: "10.0.0.2", prefix: 32 });
    assert.deepEqual(parseCidr("fd00::2/64"), { family: 6, address: "fd00::2", prefix: 64 });
    for (const bad of ["10.0.0.256/24", "10.0.0.2/33", "10.0.0/24", "fd00::2/129", "x", "10.0.0.2/-1"]) {
      assert.throws(() => parseCidr(bad), (e) => isRuntimeError(e) && e.code === "InvalidArgument", bad);
    }
  },
});

Deno.test({
  name: "tapName() is stable, fits IFNAMSIZ and starts with the sandbox's prefix",
  permissions: "none",
  fn() {
    const t = tapName("sb-1", "eth1");
    assert.equal(t, tapName("sb-1", "eth1"));
    assert.equal(t.length, 14);
    assert.ok(t.startsWith(tapPrefix("sb-1")));
    assert.notEqual(t, tapName("sb-1", "eth2"));
    assert.notEqual(tapPrefix("sb-1"), tapPrefix("sb-2"));
    assert.match(t, /^ck[0-9a-f]{12}$/);
  },
});
