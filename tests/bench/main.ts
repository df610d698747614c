/**
 * `deno task bench`: every figure is a ratio to a baseline measured in the same run, never a timed
 * assertion. Sections run in order; a section whose prerequisites are missing says why and is
 * skipped. Results go to bench/results.json with the machine description (cores, accelerator, QEMU,
 * kernel), then tests/bench/report.ts writes docs/bench.svg and the README table.
 *
 * Run: deno task bench [section ...]
 *   sections, in this order: ttrpc, store, boot, kernel (tuned vs Debian's, same run), verbs (P10,
 *   P9 vs runc and runsc), waterfall (cold and templated starts, step by step), start (P1, P7,
 *   runc), stdout (P6), factory (P2, P5, P3/P4 templated), memory (P3/P4 cold), shim, network,
 *   fileio; and, only when named, soak (COCOON_SOAK_PODS x COCOON_SOAK_CYCLES create/delete
 *   cycles through containerd, default 20 x 50: leaks and the daemon's memory)
 * Naming sections replaces only their figures in an existing bench/results.json.
 *
 * Knobs (environment): COCOON_BENCH_COLD_PODS (memory, default 4), COCOON_BENCH_PARALLEL (factory,
 * default 20), COCOON_BENCH_PODS (shim, default 10), COCOON_BENCH_KERNEL (tuned or debian: the pod
 * sections' image; default: the tuned one when built), COCOON_BENCH_FPR=off (pods without free page
 * reporting), COCOON_BENCH_BUDGET_S (default 840: a section
 * that would start later than this into the run is skipped, saying so, so the run ends near 15 min).
 *
 * @module
 */
import { benchTtrpc } from "./ttrpc_bench.ts";
import { benchShim } from "../e2e/shim_bench.ts";
import { benchSoak } from "../e2e/soak_bench.ts";
import { benchStores } from "../../plugins/store/bench.ts";
import { benchBoot } from "./boot_bench.ts";
import { benchNetwork } from "./network_bench.ts";
import { benchFileIo } from "./fileio_bench.ts";
import { benchStart } from "./start_bench.ts";
import { benchStdout } from "./stdout_bench.ts";
import { benchMemory } from "./memory_bench.ts";
import { benchFactory } from "./factory_bench.ts";
import { benchKernels } from "./kernel_bench.ts";
import { benchVerbs } from "./verb_bench.ts";
import { benchWaterfall } from "./waterfall_bench.ts";
import { fig, type Figure, figures, formatFigure } from "./figures.ts";
import { machine } from "./machine.ts";
import { parseResults, writeReport } from "./report.ts";

export type { Figure } from "./figures.ts";

interface SectionResult {
  readonly figures: readonly Figure[];
  readonly skipped?: Readonly<Record<string, string>>;
}

type Section = () => Promise<SectionResult>;

const envInt = (k: string, d: number) => {
  const n = Number(Deno.env.get(k) ?? d);
  return Number.isInteger(n) && n > 0 ? n : d;
};

/** Sections too long for the default run. */
const ONLY_WHEN_NAMED = new Set(["soak"]);

const SECTIONS: Readonly<Record<string, Section>> = {
  async ttrpc() {
    const r = await benchTtrpc();
    const n = (k: string): number => (typeof r[k] === "number" ? r[k] : Number.NaN);
    return {
      figures: [
        fig("ttrpc", "unary round trip p50", n("unary_p50_us"), "µs"),
        fig("ttrpc", "raw echo round trip p50 (baseline)", n("raw_echo_p50_us"), "µs"),
        fig("ttrpc", "unary / raw round trip", n("unary_vs_raw_ratio"), "x", "<= 2"),
        fig("ttrpc", "stream throughput", n("stream_mb_s"), "MB/s"),
        fig("ttrpc", "raw socket throughput (baseline)", n("raw_mb_s"), "MB/s"),
        fig("ttrpc", "stream / raw throughput", n("stream_vs_raw_ratio"), "x", ">= 0.7"),
      ],
    };
  },
  async store() {
    const rows = await benchStores({ iterations: 300 });
    return {
      figures: rows.flatMap((r) => [
        fig("store", `${r.store} save`, Math.round(r.saveOpsPerSec), "ops/s"),
        fig("store", `${r.store} load`, Math.round(r.loadOpsPerSec), "ops/s"),
      ]),
    };
  },
  async boot() {
    return { figures: figures("boot", (await benchBoot()).rows) };
  },
  async kernel() {
    return { figures: figures("kernel", (await benchKernels({ rounds: 2 })).rows) };
  },
  async verbs() {
    const r = await benchVerbs({ calls: 10 });
    return { figures: figures("verbs", r.rows), skipped: prefixed("verbs", r.skipped) };
  },
  async waterfall() {
    return { figures: figures("waterfall", (await benchWaterfall()).rows) };
  },
  async start() {
    return { figures: figures("start", (await benchStart({ rounds: 2, execs: 5 })).rows) };
  },
  async stdout() {
    return { figures: figures("stdout", (await benchStdout({ mib: 16 })).rows) };
  },
  async factory() {
    const r = await benchFactory({ rounds: 2, parallel: envInt("COCOON_BENCH_PARALLEL", 20), cacheVms: 2 });
    const skipped = Object.fromEntries(Object.entries(r.skipped).map(([k, why]) => [`factory: ${k}`, why]));
    return { figures: figures("factory", r.rows), skipped };
  },
  async memory() {
    return {
      figures: figures("memory", (await benchMemory({ pods: envInt("COCOON_BENCH_COLD_PODS", 4) })).rows),
    };
  },
  async shim() {
    // ctr run through Cocoon vs runc in the same run, and host memory per pod through the daemon.
    const r = await benchShim({ pods: envInt("COCOON_BENCH_PODS", 10) });
    return { figures: figures("shim", r.rows) };
  },
  async soak() {
    // only when named (long): the soak is COCOON_SOAK_PODS=20 COCOON_SOAK_CYCLES=50
    const r = await benchSoak({
      pods: envInt("COCOON_SOAK_PODS", 20),
      cycles: envInt("COCOON_SOAK_CYCLES", 50),
    });
    return { figures: figures("soak", r.rows) };
  },
  async network() {
    return { figures: figures("network", (await benchNetwork()).rows) };
  },
  async fileio() {
    return { figures: figures("fileio", (await benchFileIo()).rows) };
  },
};

function prefixed(section: string, skipped: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(skipped).map(([k, why]) => [`${section}: ${k}`, why]));
}

interface Kept {
  figures: Figure[];
  skipped: Record<string, string>;
  durations: Record<string, number>;
  ran: Record<string, string>;
}

async function previous(): Promise<Kept> {
  try {
    const r = parseResults(await Deno.readTextFile("bench/results.json"));
    return {
      figures: [...r.figures],
      skipped: { ...r.skipped },
      durations: { ...r.durations },
      ran: { ...r.ran },
    };
  } catch {
    return { figures: [], skipped: {}, durations: {}, ran: {} };
  }
}

if (import.meta.main) {
  const partial = Deno.args.length > 0;
  const wanted = partial ? Deno.args : Object.keys(SECTIONS).filter((s) => !ONLY_WHEN_NAMED.has(s));
  const base: Kept = partial ? await previous() : { figures: [], skipped: {}, durations: {}, ran: {} };
  const fresh: Figure[] = [];
  const skipped: Record<string, string> = Object.fromEntries(
    Object.entries(base.skipped).filter(([k]) => !wanted.some((w) => k === w || k.startsWith(`${w}:`))),
  );
  const durations: Record<string, number> = { ...base.durations };
  const ran: Record<string, string> = { ...base.ran };
  const say = (line: string) => {
    // deno-lint-ignore no-console
    console.log(line);
  };
  say(`machine: ${JSON.stringify(await machine())}`);
  const budgetS = envInt("COCOON_BENCH_BUDGET_S", 840);
  const began = performance.now();
  for (const name of wanted) {
    const run = SECTIONS[name];
    if (!run) {
      skipped[name] = "unknown section";
      continue;
    }
    const elapsedS = Math.round((performance.now() - began) / 1000);
    if (elapsedS > budgetS) {
      skipped[name] = `time budget: ${elapsedS} s into the run, over COCOON_BENCH_BUDGET_S=${budgetS}`;
      say(`${name}: skipped (${skipped[name]})`);
      continue;
    }
    const t0 = performance.now();
    ran[name] = new Date().toISOString();
    try {
      const r = await run();
      fresh.push(...r.figures);
      Object.assign(skipped, r.skipped ?? {});
      const w = Math.max(...r.figures.map((f) => `${f.section}/${f.name}`.length), 10);
      for (const f of r.figures) say(formatFigure(f, w));
    } catch (e) {
      skipped[name] = e instanceof Error ? e.message.split("\n")[0] ?? "" : String(e);
      say(`${name}: skipped (${skipped[name]})`);
    }
    durations[name] = Math.round((performance.now() - t0) / 1000);
    say(`${name}: ${durations[name]} s`);
  }
  const kept = base.figures.filter((f) => !wanted.includes(f.section));
  const all = [...kept, ...fresh];
  const result = { machine: await machine(), figures: all, skipped, durations, ran };
  await Deno.mkdir("bench", { recursive: true });
  await Deno.writeTextFile("bench/results.json", JSON.stringify(result, null, 2) + "\n");
  const goals = all.filter((f) => f.goal);
  const w = Math.max(...goals.map((f) => `${f.section}/${f.name}`.length), 10);
  const lines = ["", "goals:", ...goals.map((f) => formatFigure(f, w))];
  for (const [k, v] of Object.entries(skipped)) lines.push(`${k}: skipped (${v})`);
  lines.push(`this run: ${Math.round((performance.now() - began) / 1000)} s; written to bench/results.json`);
  say(lines.join("\n"));
  await writeReport();
  say("report: docs/bench.svg and README.md (between <!-- bench:start --> and <!-- bench:end -->)");
}
