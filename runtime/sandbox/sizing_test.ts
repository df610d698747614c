import assert from "node:assert/strict";
import { cpusetCount, sizeOfResources } from "./sizing.ts";

Deno.test("cpusetCount() counts a cpuset list; malformed is 0", () => {
  assert.equal(cpusetCount("0-3,6"), 5);
  assert.equal(cpusetCount("7"), 1);
  assert.equal(cpusetCount(""), 0);
  assert.equal(cpusetCount("3-1"), 0);
  assert.equal(cpusetCount("a"), 0);
});

Deno.test("sizeOfResources() adds the memory limit and the CPU quota (else the cpuset) to the VM", () => {
  assert.deepEqual(sizeOfResources({ memory: { limit: 64 * 1024 * 1024, swap: 1 } }), {
    extraMemoryMiB: 64,
    extraVcpus: 0,
  });
  assert.deepEqual(sizeOfResources({ cpu: { quota: 150_000, period: 100_000 } }), {
    extraMemoryMiB: 0,
    extraVcpus: 2,
  });
  assert.deepEqual(sizeOfResources({ cpu: { cpus: "0-3" } }), { extraMemoryMiB: 0, extraVcpus: 4 });
  assert.deepEqual(sizeOfResources(undefined), { extraMemoryMiB: 0, extraVcpus: 0 });
  assert.deepEqual(sizeOfResources({ memory: { limit: -1 } }), { extraMemoryMiB: 0, extraVcpus: 0 });
});
