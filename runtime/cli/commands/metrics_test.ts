import assert from "node:assert/strict";
import { metricsText } from "./metrics.ts";
import type { SandboxView } from "../../api/http/mod.ts";

const view: SandboxView = {
  id: "sb1",
  state: { kind: "ready", startedAt: "2026-01-01T00:00:03.000Z" },
  createdAt: "2026-01-01T00:00:00.000Z",
  uptimeSeconds: 12.5,
  startSeconds: 3,
  hypervisor: "qemu",
  vcpus: 2,
  memoryMiB: 512,
  pids: [42],
  owner: { kind: "holder", pid: 7, socket: "/x" },
  vmm: { cpuSeconds: 1.25, rssBytes: 100 * 1048576, pssBytes: null },
  containers: [],
};

Deno.test({
  name: "metricsText() prints the sandbox's figures and each container's guest stats",
  permissions: "none",
  fn() {
    const t = metricsText(view, [
      { containerId: "c1", cpuSeconds: 0.5, memoryBytes: 2 * 1048576, memoryLimitBytes: 2 ** 63, pids: 3 },
    ]);
    assert.match(t, /^sandbox\s+sb1$/m);
    assert.match(t, /^owner\s+its OCI holder \(pid 7\)$/m);
    assert.match(t, /^vmm cpu\s+1\.25 s$/m);
    assert.match(t, /^vmm rss\s+100\.0 MiB$/m);
    assert.match(t, /^vmm pss\s+-$/m);
    assert.match(t, /^container\s+c1: cpu 0\.50 s, memory 2\.0 MiB \(limit none\), pids 3$/m);
  },
});

Deno.test({
  name: "metricsText() says when the guest cannot be reached",
  permissions: "none",
  fn() {
    assert.match(metricsText({ ...view, vmm: null }, null), /^guest\s+not reachable/m);
    assert.match(metricsText({ ...view, vmm: null }, null), /^vmm rss\s+-$/m);
  },
});
