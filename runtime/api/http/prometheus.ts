/**
 * `/metrics` in the Prometheus text exposition format (version 0.0.4): per sandbox the VMM's CPU
 * time and memory (from /proc), the guest cgroup figures of its containers (from the agent, where
 * it can be reached), and a histogram of start latency (creation → ready) from the records.
 * Pure: the caller gathers the figures.
 *
 * @module
 */
import type { GuestStatsView, SandboxView } from "./types.ts";

/** Content type of the text exposition format. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** Upper bounds (seconds) of the start latency histogram (TCG boots take several seconds). */
export const START_BUCKETS: readonly number[] = [0.5, 1, 2, 5, 10, 20, 30, 60, 120];

type Labels = Readonly<Record<string, string>>;

/** Escapes a label value (backslash, double quote, newline). Pure. */
export function escapeLabel(v: string): string {
  return v.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");
}

function fmt(n: number): string {
  if (Number.isNaN(n)) return "NaN";
  if (n === Infinity) return "+Inf";
  if (n === -Infinity) return "-Inf";
  return String(n);
}

class Family {
  readonly lines: string[] = [];
  constructor(name: string, type: "gauge" | "counter" | "histogram", help: string) {
    this.lines.push(`# HELP ${name} ${help.replaceAll("\\", "\\\\").replaceAll("\n", "\\n")}`);
    this.lines.push(`# TYPE ${name} ${type}`);
  }
  sample(name: string, labels: Labels, value: number): void {
    const ls = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(",");
    this.lines.push(`${name}${ls === "" ? "" : `{${ls}}`} ${fmt(value)}`);
  }
}

export interface MetricsInput {
  readonly sandboxes: readonly SandboxView[];
  /** Guest stats by sandbox id; absent or null: the agent was not reached. */
  readonly guest: ReadonlyMap<string, readonly GuestStatsView[] | null>;
}

/** The exposition text. Pure. */
export function renderMetrics(input: MetricsInput): string {
  const out: Family[] = [];
  const fam = (name: string, type: "gauge" | "counter" | "histogram", help: string) => {
    const f = new Family(name, type, help);
    out.push(f);
    return f;
  };
  const byState = fam("cocoon_sandboxes", "gauge", "Sandboxes in the store by state");
  for (const state of ["creating", "ready", "paused", "stopped"]) {
    byState.sample(
      "cocoon_sandboxes",
      { state },
      input.sandboxes.filter((s) => s.state.kind === state).length,
    );
  }
  const info = fam("cocoon_sandbox_info", "gauge", "Sandbox state, hypervisor and owner (always 1)");
  const vcpus = fam("cocoon_sandbox_vcpus", "gauge", "vCPUs of the sandbox's VM at boot");
  const mem = fam("cocoon_sandbox_memory_bytes", "gauge", "Guest memory of the sandbox's VM at boot");
  const up = fam("cocoon_sandbox_uptime_seconds", "gauge", "Seconds since the sandbox's VM became ready");
  const cpu = fam("cocoon_sandbox_vmm_cpu_seconds_total", "counter", "CPU time of the VMM processes");
  const rss = fam("cocoon_sandbox_vmm_rss_bytes", "gauge", "Resident memory of the VMM processes");
  const pss = fam("cocoon_sandbox_vmm_pss_bytes", "gauge", "Proportional set size of the VMM processes");
  const guestUp = fam(
    "cocoon_sandbox_guest_stats_up",
    "gauge",
    "1 when the guest agent answered for this scrape, else 0",
  );
  const ccpu = fam(
    "cocoon_container_cpu_seconds_total",
    "counter",
    "CPU time of the container's guest cgroup",
  );
  const cmem = fam(
    "cocoon_container_memory_usage_bytes",
    "gauge",
    "Memory usage of the container's guest cgroup",
  );
  const clim = fam(
    "cocoon_container_memory_limit_bytes",
    "gauge",
    "Memory limit of the container's guest cgroup",
  );
  const cpids = fam("cocoon_container_pids", "gauge", "Processes in the container's guest cgroup");
  const hist = fam(
    "cocoon_sandbox_start_seconds",
    "histogram",
    "Seconds from a sandbox's creation to ready, for the sandboxes whose VM runs",
  );
  const starts: number[] = [];
  for (const s of input.sandboxes) {
    const l = { sandbox: s.id };
    info.sample("cocoon_sandbox_info", {
      sandbox: s.id,
      state: s.state.kind,
      hypervisor: s.hypervisor,
      owner: s.owner.kind === "process" ? s.owner.role : s.owner.kind,
    }, 1);
    vcpus.sample("cocoon_sandbox_vcpus", l, s.vcpus);
    mem.sample("cocoon_sandbox_memory_bytes", l, s.memoryMiB * 1024 * 1024);
    if (s.uptimeSeconds !== null) up.sample("cocoon_sandbox_uptime_seconds", l, s.uptimeSeconds);
    if (s.startSeconds !== null) starts.push(s.startSeconds);
    if (s.vmm !== null) {
      cpu.sample("cocoon_sandbox_vmm_cpu_seconds_total", l, s.vmm.cpuSeconds);
      rss.sample("cocoon_sandbox_vmm_rss_bytes", l, s.vmm.rssBytes);
      if (s.vmm.pssBytes !== null) pss.sample("cocoon_sandbox_vmm_pss_bytes", l, s.vmm.pssBytes);
    }
    if (s.state.kind !== "ready" && s.state.kind !== "paused") continue;
    const g = input.guest.get(s.id) ?? null;
    guestUp.sample("cocoon_sandbox_guest_stats_up", l, g === null ? 0 : 1);
    for (const c of g ?? []) {
      const cl = { sandbox: s.id, container: c.containerId };
      if (c.cpuSeconds !== null) ccpu.sample("cocoon_container_cpu_seconds_total", cl, c.cpuSeconds);
      if (c.memoryBytes !== null) cmem.sample("cocoon_container_memory_usage_bytes", cl, c.memoryBytes);
      if (c.memoryLimitBytes !== null) {
        clim.sample("cocoon_container_memory_limit_bytes", cl, c.memoryLimitBytes);
      }
      if (c.pids !== null) cpids.sample("cocoon_container_pids", cl, c.pids);
    }
  }
  for (const le of [...START_BUCKETS, Infinity]) {
    hist.sample("cocoon_sandbox_start_seconds_bucket", { le: fmt(le) }, starts.filter((x) => x <= le).length);
  }
  hist.sample("cocoon_sandbox_start_seconds_sum", {}, starts.reduce((a, b) => a + b, 0));
  hist.sample("cocoon_sandbox_start_seconds_count", {}, starts.length);
  return out.map((f) => f.lines.join("\n")).join("\n") + "\n";
}
