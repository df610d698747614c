import assert from "node:assert/strict";
import { parseBytes, parseDurationMs, resourcesFromFlags } from "./oci_resources.ts";

Deno.test({
  name: "parseBytes() and parseDurationMs() take runc's units and refuse junk",
  permissions: "none",
  fn() {
    assert.equal(parseBytes("512m", "--memory"), 512 * 1024 * 1024);
    assert.equal(parseBytes("1G", "--memory"), 1024 ** 3);
    assert.equal(parseBytes("4096", "--memory"), 4096);
    assert.equal(parseBytes("-1", "--memory-swap"), -1);
    assert.throws(() => parseBytes("lots", "--memory"), /Invalid --memory "lots"/);
    assert.equal(parseDurationMs("5s", "--interval"), 5000);
    assert.equal(parseDurationMs("250ms", "--interval"), 250);
    assert.equal(parseDurationMs("2", "--interval"), 2000);
    assert.throws(() => parseDurationMs("0s", "--interval"), /must be positive/);
    assert.throws(() => parseDurationMs("soon", "--interval"), /expected a duration/);
  },
});

Deno.test({
  name: "resourcesFromFlags() builds linux.resources over a --resources file",
  permissions: "none",
  fn() {
    const r = resourcesFromFlags(
      { memory: "256m", cpuQuota: "50000", cpuPeriod: "100000", pidsLimit: "64", cpusetCpus: "0" },
      { memory: { swap: 1 }, hugepageLimits: [] },
    );
    assert.deepEqual(r, {
      memory: { swap: 1, limit: 256 * 1024 * 1024 },
      cpu: { period: 100000, quota: 50000, cpus: "0" },
      pids: { limit: 64 },
      hugepageLimits: [],
    });
    assert.throws(() => resourcesFromFlags({ cpuQuota: "half" }), /Invalid --cpu-quota "half"/);
  },
});
