/**
 * `deno task bench`: every figure is a ratio to a baseline measured in the same run, never a timed
 * assertion. Sections run in order; a section whose prerequisites are missing says why and is
 * skipped. Results go to bench/results.json with the machine description.
 *
 * Run: deno task bench [section ...]   (sections: ttrpc, store, boot, network, fileio, shim)
 *
 * @module
 */
import { benchTtrpc } from "./ttrpc_bench.ts";
import { benchShim } from "../e2e/shim_bench.ts";
import { benchStores } from "../../plugins/store/bench.ts";
import { benchBoot } from "./boot_bench.ts";
import { benchNetwork } from "./network_bench.ts";
import { benchFileIo } from "./fileio_bench.ts";

export interface Figure {
  readonly section: string;
  readonly name: string;
  readonly value: number;
  readonly unit: string;
  /** e.g. "<= 2" for a ratio goal */
  readonly goal?: string;
  readonly met?: boolean;
}

type Section = () => Promise<Figure[]>;

const SECTIONS: Readonly<Record<string, Section>> = {
  async ttrpc() {
    const r = await benchTtrpc();
    const n = (k: string): number => (typeof r[k] === "number" ? r[k] : Number.NaN);
    return [
      fig("ttrpc", "unary round trip p50", n("unary_p50_us"), "µs"),
      fig("ttrpc", "raw echo round trip p50 (baseline)", n("raw_echo_p50_us"), "µs"),
      fig("ttrpc", "unary / raw round trip", n("unary_vs_raw_ratio"), "x", "<= 2"),
      fig("ttrpc", "stream throughput", n("stream_mb_s"), "MB/s"),
      fig("ttrpc", "raw socket throughput (baseline)", n("raw_mb_s"), "MB/s"),
      fig("ttrpc", "stream / raw throughput", n("stream_vs_raw_ratio"), "x", ">= 0.7"),
    ];
  },
  async store() {
    const rows = await benchStores({ iterations: 300 });
    return rows.flatMap((r) => [
      { section: "store", name: `${r.store} save`, value: Math.round(r.saveOpsPerSec), unit: "ops/s" },
      { section: "store", name: `${r.store} load`, value: Math.round(r.loadOpsPerSec), unit: "ops/s" },
    ]);
  },
  async boot() {
    const r = await benchBoot();
    return r.rows.map((row) => fig("boot", row.name, row.value, row.unit, row.goal));
  },
  async network() {
    const r = await benchNetwork();
    return r.rows.map((row) => fig("network", row.name, row.value, row.unit, row.goal));
  },
  async fileio() {
    const r = await benchFileIo();
    return r.rows.map((row) => fig("fileio", row.name, row.value, row.unit, row.goal));
  },
  async shim() {
    // ctr run through Cocoon vs runc in the same run, and host memory per pod (COCOON_BENCH_PODS, default 10).
    const r = await benchShim({ pods: Number(Deno.env.get("COCOON_BENCH_PODS") ?? "10") });
    return r.rows.map((row) => fig("shim", row.name, row.value, row.unit));
  },
};

function fig(section: string, name: string, value: number, unit: string, goal?: string): Figure {
  return { section, name, value, unit, ...(goal ? { goal, met: meets(value, goal) } : {}) };
}

function meets(v: number, goal: string): boolean {
  const [op, n] = goal.split(" ");
  const target = Number(n);
  return op === "<=" ? v <= target : v >= target;
}

async function machine(): Promise<Record<string, unknown>> {
  const cpuinfo = await Deno.readTextFile("/proc/cpuinfo").catch(() => "");
  const model = /model name\s*:\s*(.*)/.exec(cpuinfo)?.[1] ?? "unknown";
  const pvm = await Deno.stat("/sys/module/kvm_pvm").then(() => true, () => false);
  const kvm = await Deno.stat("/sys/module/kvm_intel").then(() => true, () => false) ||
    await Deno.stat("/sys/module/kvm_amd").then(() => true, () => false);
  return {
    cores: navigator.hardwareConcurrency,
    cpu: model,
    memoryGiB: Math.round(Deno.systemMemoryInfo().total / 2 ** 30),
    accelerator: !pvm && kvm ? "kvm" : "tcg",
    kernel: Deno.osRelease(),
    deno: Deno.version.deno,
    date: new Date().toISOString(),
  };
}

if (import.meta.main) {
  const wanted = Deno.args.length ? Deno.args : Object.keys(SECTIONS);
  const figures: Figure[] = [];
  const skipped: Record<string, string> = {};
  for (const name of wanted) {
    const run = SECTIONS[name];
    if (!run) {
      skipped[name] = "unknown section";
      continue;
    }
    try {
      figures.push(...await run());
    } catch (e) {
      skipped[name] = e instanceof Error ? e.message : String(e);
    }
  }
  const result = { machine: await machine(), figures, skipped };
  await Deno.mkdir("bench", { recursive: true });
  await Deno.writeTextFile("bench/results.json", JSON.stringify(result, null, 2) + "\n");
  const w = Math.max(...figures.map((f) => `${f.section}/${f.name}`.length), 10);
  const lines = figures.map((f) =>
    `${`${f.section}/${f.name}`.padEnd(w)}  ${String(f.value).padStart(12)} ${f.unit.padEnd(6)} ${
      f.goal ? `goal ${f.goal}: ${f.met ? "met" : "MISSED"}` : ""
    }`
  );
  for (const [k, v] of Object.entries(skipped)) lines.push(`${k}: skipped (${v})`);
  // deno-lint-ignore no-console
  console.log(
    `machine: ${JSON.stringify(result.machine)}\n${lines.join("\n")}\nwritten to bench/results.json`,
  );
}
