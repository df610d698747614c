import { resolveConfig } from "../config/resolve.ts";
import assert from "node:assert/strict";
import { checkVmSize, cpusetCount, sizedConfig, sizeOfResources } from "./sizing.ts";

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

const sizeCfg = (h: Record<string, unknown> = {}) =>
  resolveConfig({ hypervisor: { qemu: { kernel: "/k", ...h } } }, { file: "t", dropIns: [] });

Deno.test("sizedConfig() grows the VM within the maxima, the host's when none is set", () => {
  const host = { hostMemoryMiB: 4096, hostCpus: 4 };
  const grown = sizedConfig(sizeCfg(), { extraMemoryMiB: 1 << 20, extraVcpus: 256 }, host);
  assert.deepEqual([grown.hypervisor.defaultMemory, grown.hypervisor.defaultVcpus], [4096, 4]);
  const capped = sizedConfig(sizeCfg({ default_maxmemory: 1024, default_maxvcpus: 2 }), {
    extraMemoryMiB: 4096,
    extraVcpus: 8,
  }, host);
  assert.deepEqual([capped.hypervisor.defaultMemory, capped.hypervisor.defaultVcpus], [1024, 2]);
});

Deno.test("checkVmSize() refuses a VM above the maxima (1 TiB and 256 vCPUs from an annotation)", () => {
  const host = { hostMemoryMiB: 4096, hostCpus: 4 };
  checkVmSize(sizeCfg(), host);
  assert.throws(
    () => checkVmSize(sizeCfg({ default_memory: 1 << 20 }), host),
    /memory \(MiB\) 1048576 is more than the maximum 4096 \(host memory\)/,
  );
  assert.throws(
    () => checkVmSize(sizeCfg({ default_vcpus: 256, default_maxvcpus: 8 }), host),
    /vCPUs 256 is more than the maximum 8 \(default_maxvcpus\)/,
  );
});
