/**
 * The VM factory figures: P2 template start and cache start vs a cold start (goal <= 0.10), P5 20
 * parallel templated starts vs one (goal <= 4x), and P3/P4 with 20 templated pods (goal <= 17 MiB
 * per pod, owner <= 60 MB).
 *
 * Templates are switched on by the configuration alone (`[factory] enable_template = true`, a
 * template path in the run's temp dir), built with `cocoon factory init` where the CLI has it (else
 * on the first templated start, untimed), and a start counts as templated only when its QEMU was
 * restored from the template (`-incoming` on its command line): until the factory works, the
 * section is skipped with the reason. The cache (`vm_cache_number`) is measured the same way; a
 * cached start counts only when the sandbox's QEMU was already running before `createSandbox`.
 *
 * Run alone: deno run --allow-all tests/bench/factory_bench.ts [rounds] [parallel pods]
 *
 * @module
 */
import { killProcessesUnder, pidsMentioning } from "../integration/shim_harness.ts";
import { median, pairedRatio, ratio, round, type Row } from "./figures.ts";
import { measurePods, memoryRows, P3_GOAL, P4_GOAL } from "./memory_bench.ts";
import {
  podPids,
  type PodWorld,
  restoredFromTemplate,
  type StartedPod,
  type StartMode,
  startPod,
  stopPod,
  within,
  withPodWorld,
  writeBenchConfig,
} from "./pod_env.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

export const P2_GOAL = "<= 0.1";
export const P5_GOAL = "<= 4";

/** Rows, and the parts that could not be measured with why. */
export interface FactoryBenchResult {
  readonly rows: readonly Row[];
  readonly skipped: Readonly<Record<string, string>>;
}

/** Thrown when the factory cannot be measured (yet); the message is the reason. */
export class FactoryUnavailable extends Error {}

export async function benchFactory(
  opts: { rounds?: number; parallel?: number; cacheVms?: number; signal?: AbortSignal } = {},
): Promise<FactoryBenchResult> {
  const rounds = opts.rounds ?? 2;
  const parallel = opts.parallel ?? 20;
  const rows: Row[] = [];
  const skipped: Record<string, string> = {};
  await withPodWorld(async (w) => {
    let factoryCli = false;
    try {
      const cold = await writeBenchConfig(w, { kind: "cold" });
      const tpl = await writeBenchConfig(w, { kind: "template" });
      const buildMs = (await prepare(tpl, "template")).ms;
      factoryCli = true;
      if (buildMs !== null) {
        rows.push({ name: "template build (cocoon factory init)", value: ms(buildMs), unit: "ms" });
      } else await stopPod(await startPod(tpl, w.rootfs, `warm-${tag()}`)); // builds it on demand
      const coldMs: number[] = [];
      const tplMs: number[] = [];
      for (let i = 0; i < rounds; i++) {
        opts.signal?.throwIfAborted();
        coldMs.push(await timedPod(w, cold, "cold", () => Promise.resolve(undefined)));
        tplMs.push(await timedPod(w, tpl, "tpl", templated));
      }
      rows.push(
        { name: "cold start (same run), median", value: ms(median(coldMs)), unit: "ms" },
        {
          name: "P2 template start, create to process running, median",
          value: ms(median(tplMs)),
          unit: "ms",
        },
        {
          name: "P2 template start / cold start (median of per-round ratios)",
          value: round(pairedRatio(tplMs, coldMs), 3),
          unit: "x",
          goal: P2_GOAL,
        },
      );
      try {
        rows.push(...await benchCache(w, opts.cacheVms ?? 2, median(coldMs)));
      } catch (e) {
        skipped["P2 cache start"] = reason(e);
      }
      const m = await measurePods(w, { kind: "template" }, { pods: parallel, parallel: true, single: true });
      if (m.report.restored < m.pods) {
        throw new FactoryUnavailable(
          `only ${m.report.restored} of ${m.pods} parallel pods were template clones`,
        );
      }
      const single = m.report.singleMs ?? Number.NaN;
      const failed = m.report.failures;
      if (failed.length === 0) {
        rows.push(
          { name: "one templated start alone (P5 baseline)", value: ms(single), unit: "ms" },
          { name: `${m.pods} templated starts in parallel, wall`, value: ms(m.report.wallMs), unit: "ms" },
          {
            name: `P5 ${m.pods} parallel templated starts / one`,
            value: round(ratio(m.report.wallMs, single)),
            unit: "x",
            goal: P5_GOAL,
          },
        );
      } else {
        skipped["P5 parallel templated starts"] =
          `${failed.length} of ${parallel} parallel templated starts ` +
          `failed (the ${m.pods} others are measured for P3/P4): ${failed[0]}`;
      }
      rows.push(...memoryRows(m, "template clones", { p3: P3_GOAL, p4: P4_GOAL }));
    } catch (e) {
      if (rows.length === 0) throw new FactoryUnavailable(reason(e));
      skipped["P3/P4/P5 templated pods"] = reason(e);
    } finally {
      if (factoryCli) {
        await cliAt(`${w.dir}/cache.toml`, ["factory", "destroy"]).catch(() => {});
        await cliAt(`${w.dir}/template.toml`, ["factory", "destroy"]).catch(() => {});
      }
      await killProcessesUnder(w.dir);
    }
  }, opts.signal ? { signal: opts.signal } : {});
  return { rows, skipped };
}

/** P2 with the cache: cocoon factory init starts the cache server; rows vs `coldMs`. */
async function benchCache(w: PodWorld, vms: number, coldMs: number): Promise<Row[]> {
  const mode: StartMode = { kind: "cache", vms };
  const config = await writeBenchConfig(w, mode);
  const init = await prepare(config, "cache");
  const notYet = init.out.split("\n").find((l) => /not implemented/i.test(l));
  if (notYet) throw new FactoryUnavailable(`cocoon factory init says: ${notYet.trim()}`);
  // The cache is full once `vms` QEMUs of its state dir run; none after a minute means no cache.
  const t0 = Date.now();
  for (let n = 0; n < vms; n = (await pidsMentioning(`${w.dir}/cache`, "qemu-system")).length) {
    const waited = Date.now() - t0;
    if (waited > 300_000 || (n === 0 && waited > 60_000)) {
      throw new FactoryUnavailable(
        `${n} of ${vms} cached VMs ran ${Math.round(waited / 1000)} s after cocoon factory init`,
      );
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  const cacheMs: number[] = [];
  for (let i = 0; i < vms; i++) cacheMs.push(await timedPod(w, config, "cache", cached));
  return [
    { name: `P2 cache start (${vms} VMs kept), median`, value: ms(median(cacheMs)), unit: "ms" },
    {
      name: "P2 cache start / cold start",
      value: round(ratio(median(cacheMs), coldMs), 3),
      unit: "x",
      goal: P2_GOAL,
    },
  ];
}

/** Starts a pod, checks how it got its VM (`check` throws FactoryUnavailable), deletes it; its ms. */
async function timedPod(
  w: PodWorld,
  config: string,
  kind: string,
  check: (p: StartedPod, startedAt: number) => Promise<void>,
): Promise<number> {
  const startedAt = Date.now();
  const pod = await within(300_000, `a ${kind} pod start`, startPod(config, w.rootfs, `${kind}-${tag()}`));
  try {
    await check(pod, startedAt);
    return pod.ms;
  } finally {
    await stopPod(pod);
  }
}

async function templated(p: StartedPod): Promise<void> {
  const pids = await podPids(p);
  for (const pid of pids) if (await restoredFromTemplate(pid)) return;
  throw new FactoryUnavailable("templates are on, but the sandbox's QEMU was cold-booted (no -incoming)");
}

async function cached(p: StartedPod, startedAt: number): Promise<void> {
  for (const pid of await podPids(p)) {
    const started = await processStartEpochMs(pid);
    if (started !== null && started < startedAt - 200) return;
  }
  throw new FactoryUnavailable(
    "vm_cache_number is set, but the sandbox's QEMU was started for it (not cached)",
  );
}

/** When process `pid` started, ms since the epoch (null when gone). */
async function processStartEpochMs(pid: number): Promise<number | null> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`).catch(() => "");
  const uptime = await Deno.readTextFile("/proc/uptime").catch(() => "");
  const ticks = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]);
  const up = Number(uptime.split(" ")[0]);
  if (!Number.isFinite(ticks) || !Number.isFinite(up) || stat === "") return null;
  return Date.now() - (up * 1000 - ticks * 10);
}

/**
 * `cocoon factory init` with `config`, its duration; FactoryUnavailable when the CLI has no
 * working `factory` command (the factory has not landed) or init fails.
 */
async function prepare(config: string, what: string): Promise<{ ms: number; out: string }> {
  const probe = await cliAt(config, ["factory", "status"]);
  if (probe.code !== 0) {
    throw new FactoryUnavailable(
      `cocoon factory status failed (factory not available): ${firstLine(probe.out)}`,
    );
  }
  const t0 = performance.now();
  const r = await cliAt(config, ["factory", "init"]);
  if (r.code !== 0) throw new FactoryUnavailable(`cocoon factory init (${what}) failed: ${firstLine(r.out)}`);
  return { ms: performance.now() - t0, out: r.out };
}

async function cliAt(config: string, args: string[]): Promise<{ code: number; out: string }> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "--quiet", MAIN, ...args],
    env: { COCOON_CONFIG: config },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: r.code, out: (dec.decode(r.stderr) + dec.decode(r.stdout)).trim() };
}

function firstLine(s: string): string {
  return s.split("\n").find((l) => l.trim()) ?? "(no output)";
}

function reason(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function ms(v: number): number {
  return Math.round(v);
}

function tag(): string {
  return crypto.randomUUID().slice(0, 6);
}

if (import.meta.main) {
  const r = await benchFactory({ rounds: Number(Deno.args[0] ?? 2), parallel: Number(Deno.args[1] ?? 20) });
  // deno-lint-ignore no-console
  for (const row of r.rows) console.log(`${row.name}: ${row.value} ${row.unit} ${row.goal ?? ""}`);
  // deno-lint-ignore no-console
  for (const [k, v] of Object.entries(r.skipped)) console.log(`${k}: skipped (${v})`);
}
