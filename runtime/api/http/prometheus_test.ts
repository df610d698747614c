import assert from "node:assert/strict";
import { parsePrometheusText } from "./_prom_parser.ts";
import { escapeLabel, renderMetrics, START_BUCKETS } from "./prometheus.ts";
import type { SandboxView } from "./types.ts";

export function fakeView(id: string, over: Partial<SandboxView> = {}): SandboxView {
  return {
    id,
    state: { kind: "ready", startedAt: "2026-01-01T00:00:03.000Z" },
    createdAt: "2026-01-01T00:00:00.000Z",
    uptimeSeconds: 10,
    startSeconds: 3,
    hypervisor: "qemu",
    vcpus: 1,
    memoryMiB: 512,
    pids: [42],
    owner: { kind: "none" },
    vmm: { cpuSeconds: 1.5, rssBytes: 100 << 20, pssBytes: 90 << 20 },
    containers: [],
    ...over,
  };
}

Deno.test({
  name: "renderMetrics() writes a valid exposition with VMM, guest and start latency figures",
  permissions: "none",
  fn() {
    const text = renderMetrics({
      sandboxes: [
        fakeView('sb"1'),
        fakeView("sb2", {
          startSeconds: 40,
          owner: { kind: "process", pid: 9, role: "daemon", command: "x" },
        }),
        fakeView("sb3", {
          state: { kind: "stopped", stoppedAt: "2026-01-01T00:00:09.000Z", reason: "x" },
          uptimeSeconds: null,
          startSeconds: null,
          vmm: null,
          pids: [],
        }),
      ],
      guest: new Map([['sb"1', [{
        containerId: "c1",
        cpuSeconds: 0.25,
        memoryBytes: 4096,
        memoryLimitBytes: null,
        pids: 2,
      }]], ["sb2", null]]),
    });
    const f = parsePrometheusText(text);
    const value = (fam: string, name: string, labels: Record<string, string>) =>
      f.get(fam)?.samples.find((s) =>
        s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)
      )?.value;
    assert.equal(value("cocoon_sandboxes", "cocoon_sandboxes", { state: "ready" }), 2);
    assert.equal(value("cocoon_sandboxes", "cocoon_sandboxes", { state: "stopped" }), 1);
    assert.equal(
      value("cocoon_sandbox_vmm_cpu_seconds_total", "cocoon_sandbox_vmm_cpu_seconds_total", {
        sandbox: 'sb"1',
      }),
      1.5,
    );
    assert.equal(
      value("cocoon_sandbox_vmm_rss_bytes", "cocoon_sandbox_vmm_rss_bytes", { sandbox: "sb3" }),
      undefined,
    );
    assert.equal(
      value("cocoon_container_pids", "cocoon_container_pids", { sandbox: 'sb"1', container: "c1" }),
      2,
    );
    assert.equal(
      value("cocoon_sandbox_guest_stats_up", "cocoon_sandbox_guest_stats_up", { sandbox: "sb2" }),
      0,
    );
    assert.equal(value("cocoon_sandbox_info", "cocoon_sandbox_info", { sandbox: "sb2" }), 1);
    assert.equal(f.get("cocoon_sandbox_info")?.samples[1]?.labels["owner"], "daemon");
    const h = "cocoon_sandbox_start_seconds";
    assert.equal(value(h, `${h}_bucket`, { le: "5" }), 1);
    assert.equal(value(h, `${h}_bucket`, { le: "60" }), 2);
    assert.equal(value(h, `${h}_bucket`, { le: "+Inf" }), 2);
    assert.equal(value(h, `${h}_sum`, {}), 43);
    assert.equal(f.get(h)?.samples.length, START_BUCKETS.length + 3);
  },
});

Deno.test({
  name: "escapeLabel() escapes backslash, quote and newline",
  permissions: "none",
  fn() {
    assert.equal(escapeLabel('a\\b"c\nd'), 'a\\\\b\\"c\\nd');
  },
});
