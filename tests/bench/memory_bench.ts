/**
 * P3 host memory per idle pod and P4 the owner's own memory, cold-booted pods.
 *
 * N pods (`sleep` containers) are started by a separate process that uses only the library API
 * (tests/bench/pod_owner.ts), so the owner's memory is that of a program holding N pods and nothing
 * else. Once they all run and have idled a few seconds: the PSS of every QEMU plus the owner's PSS,
 * divided by N (P3), and the owner's PSS and RSS (P4, goal <= 60 MB at 20 pods). The template
 * figures (goal <= 17 MiB per pod) are tests/bench/factory_bench.ts's.
 *
 * Run alone: deno run --allow-all tests/bench/memory_bench.ts [pods]
 *
 * @module
 */
import { type OwnerReport, parseReport } from "./pod_owner.ts";
import { kibToMib, median, round, type Row } from "./figures.ts";
import {
  addBreakdown,
  emptyBreakdown,
  QEMU_PARTS,
  type QemuBreakdown,
  qemuBreakdown,
} from "./qemu_memory.ts";
import {
  memoryKiB,
  POD_MEMORY_MIB,
  type PodWorld,
  type StartMode,
  within,
  withPodWorld,
  writeBenchConfig,
} from "./pod_env.ts";

const OWNER = new URL("./pod_owner.ts", import.meta.url).pathname;

export const P3_GOAL = "<= 17";
export const P4_GOAL = "<= 60";

/** What one owner run measured. */
export interface PodsMeasure {
  readonly report: OwnerReport;
  /** Pods running when measured (the owner's failed starts are in `report.failures`). */
  readonly pods: number;
  readonly qemuPssKiB: number;
  readonly qemuRssKiB: number;
  readonly ownerPssKiB: number;
  readonly ownerRssKiB: number;
  /** The QEMUs' PSS by part, summed over the pods. */
  readonly parts: QemuBreakdown;
}

/**
 * Starts `pods` pods of `mode` in a pod owner process, reads the memory of its QEMUs and its own
 * after `idleMs`, then has it delete them. Any process left (owner, QEMU) is killed.
 */
export async function measurePods(
  w: PodWorld,
  mode: StartMode,
  opts: { pods: number; parallel: boolean; single: boolean; idleMs?: number; timeoutMs?: number },
): Promise<PodsMeasure> {
  const config = await writeBenchConfig(w, mode);
  const plan = {
    config,
    rootfs: w.rootfs,
    pods: opts.pods,
    parallel: opts.parallel,
    single: opts.single,
    prefix: `${mode.kind.slice(0, 4)}-${crypto.randomUUID().slice(0, 6)}`,
  };
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "--quiet", OWNER, JSON.stringify(plan)],
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const lines = readLines(child.stdout);
  let pids: readonly number[] = [];
  try {
    const first = await within(opts.timeoutMs ?? 600_000, `starting ${opts.pods} pods`, lines.next());
    if (first.done) throw new Error("Cannot bench memory: the pod owner exited without a report");
    const report = parseReport(first.value);
    pids = report.qemuPids;
    await new Promise((r) => setTimeout(r, opts.idleMs ?? 5_000));
    let qemuPssKiB = 0;
    let qemuRssKiB = 0;
    const parts = emptyBreakdown();
    for (const pid of report.qemuPids) {
      const m = await memoryKiB(pid);
      qemuPssKiB += m.pss;
      qemuRssKiB += m.rss;
      addBreakdown(parts, await qemuBreakdown(pid, POD_MEMORY_MIB * 1024));
    }
    const owner = await memoryKiB(child.pid);
    return {
      report,
      pods: report.podMs.length,
      qemuPssKiB,
      qemuRssKiB,
      ownerPssKiB: owner.pss,
      ownerRssKiB: owner.rss,
      parts,
    };
  } finally {
    await child.stdin.close().catch(() => {});
    const ended = await within(120_000, "deleting the pods", child.status).then(() => true, () => false);
    if (!ended) kill(child.pid);
    for (const pid of pids) kill(pid);
    await child.status.catch(() => {});
    await lines.return(undefined).catch(() => {});
  }
}

/** The P3/P4 rows of a measure; `label` says which start mode. */
export function memoryRows(m: PodsMeasure, label: string, goals: { p3?: string; p4?: string }): Row[] {
  const n = m.pods;
  const mb = (kib: number) => round((kib * 1024) / 1e6, 1);
  return [
    { name: `QEMU PSS per pod, ${label} (${n} pods)`, value: kibToMib(m.qemuPssKiB / n), unit: "MiB" },
    { name: `QEMU RSS per pod, ${label} (${n} pods)`, value: kibToMib(m.qemuRssKiB / n), unit: "MiB" },
    {
      name: `P3 host memory per idle pod, ${label}: QEMU PSS + owner share (${n} pods)`,
      value: kibToMib((m.qemuPssKiB + m.ownerPssKiB) / n),
      unit: "MiB",
      ...(goals.p3 ? { goal: goals.p3 } : {}),
    },
    {
      name: `P4 owner (library process) PSS with ${n} ${label} pods`,
      value: mb(m.ownerPssKiB),
      unit: "MB",
      ...(goals.p4 ? { goal: goals.p4 } : {}),
    },
    { name: `P4 owner (library process) RSS with ${n} ${label} pods`, value: mb(m.ownerRssKiB), unit: "MB" },
    { name: `pod start, ${label}, median of ${n}`, value: Math.round(median(m.report.podMs)), unit: "ms" },
    ...QEMU_PARTS.map((part) => ({
      name: `QEMU PSS per pod, ${label}: ${part}`,
      value: kibToMib(m.parts[part] / n),
      unit: "MiB",
    })),
  ];
}

/** P3 and P4 with `pods` cold-booted pods, started one after the other. */
export async function benchMemory(
  opts: { pods?: number; signal?: AbortSignal } = {},
): Promise<{ rows: Row[] }> {
  const pods = opts.pods ?? 20;
  return await withPodWorld(async (w) => {
    const m = await measurePods(w, { kind: "cold" }, { pods, parallel: false, single: false });
    return { rows: memoryRows(m, "cold boot", pods >= 20 ? { p4: P4_GOAL } : {}) };
  }, opts.signal ? { signal: opts.signal } : {});
}

async function* readLines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string, void, undefined> {
  let buf = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    buf += chunk;
    let i: number;
    while ((i = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (line.trim()) yield line;
    }
  }
}

function kill(pid: number): void {
  try {
    Deno.kill(pid, "SIGKILL");
  } catch { /* gone */ }
}

if (import.meta.main) {
  const r = await benchMemory({ pods: Number(Deno.args[0] ?? 20) });
  // deno-lint-ignore no-console
  for (const row of r.rows) console.log(`${row.name}: ${row.value} ${row.unit} ${row.goal ?? ""}`);
}
