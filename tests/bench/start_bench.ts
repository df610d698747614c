/**
 * P1 cold start and P7 exec round trip, with runc through containerd as the native reference line.
 *
 * - P1: `createSandbox` (cold boot) + `createContainer` + `startContainer` until the container's
 *   process has printed a line, through the library API (`mod.ts`), against a bare QEMU boot of the
 *   same kernel and initrd to a trivial /init (tests/bench/boot_bench.ts), alternating so host
 *   load hits both alike; the figure is the median of the per-round ratios (goal <= 1.3).
 * - P7: in the first round's pod (still running), `enterContainer(["true"])` + `wait`, against P1
 *   (goal <= 0.05).
 * - runc: a private containerd (tests/utils/containerd.ts): `ctr run --rm` echo, and `ctr task
 *   exec` true in a `ctr run -d` sleeper; their ratio is the native line for P7.
 *
 * Run alone: deno run --allow-all tests/bench/start_bench.ts [rounds] [execs]
 *
 * @module
 */
import { makeBusyboxRootfs } from "../../agent/testing/rootfs.ts";
import { startContainerd } from "../utils/containerd.ts";
import { openBareBooter } from "./boot_bench.ts";
import { median, pairedRatio, ratio, round, type Row } from "./figures.ts";
import {
  POD_MEMORY_MIB,
  POD_VCPUS,
  type StartedPod,
  startPod,
  stopPod,
  within,
  withPodWorld,
  writeBenchConfig,
} from "./pod_env.ts";

export interface StartBenchOptions {
  /** Rounds of (bare boot, cold pod start). @default 2 */
  rounds?: number;
  /** Exec round trips in the running pod (and in the runc container). @default 5 */
  execs?: number;
  signal?: AbortSignal;
}

export interface StartBenchResult {
  readonly bareMs: readonly number[];
  readonly coldMs: readonly number[];
  readonly execMs: readonly number[];
  readonly rows: readonly Row[];
}

export const P1_GOAL = "<= 1.3";
export const P7_GOAL = "<= 0.05";

/** Runs P1 and P7 (Cocoon) and the runc reference line. */
export async function benchStart(opts: StartBenchOptions = {}): Promise<StartBenchResult> {
  const rounds = opts.rounds ?? 2;
  const execs = opts.execs ?? 5;
  const sig = opts.signal ? { signal: opts.signal } : {};
  const bareMs: number[] = [];
  const coldMs: number[] = [];
  const execMs: number[] = [];
  await withPodWorld(async (w) => {
    const config = await writeBenchConfig(w, { kind: "cold" });
    const bare = await openBareBooter(w.image, { vcpus: POD_VCPUS, memoryMiB: POD_MEMORY_MIB });
    let first: StartedPod | undefined;
    try {
      for (let i = 0; i < rounds; i++) {
        opts.signal?.throwIfAborted();
        bareMs.push(await bare.boot());
        const pod = await within(
          300_000,
          "a cold pod start",
          startPod(config, w.rootfs, `p1-${i}-${tag()}`, sig),
        );
        coldMs.push(pod.ms);
        if (first) await stopPod(pod);
        else first = pod;
      }
      if (!first) throw new Error("Cannot bench start: no round ran");
      for (let i = 0; i < execs; i++) {
        const t0 = performance.now();
        const p = await first.sb.enterContainer(first.containerId, { args: ["true"] });
        const status = await within(60_000, "an exec of true", p.wait());
        if (status !== 0) throw new Error(`Cannot bench exec: true exited with ${status}`);
        execMs.push(performance.now() - t0);
      }
    } finally {
      if (first) await stopPod(first);
      await bare.close();
    }
  }, sig);
  const runc = await runcReference(execs);
  const p1 = median(coldMs);
  const rows: Row[] = [
    { name: "bare QEMU boot to trivial /init (baseline), median", value: ms(median(bareMs)), unit: "ms" },
    { name: "P1 cold start, create to process running, median", value: ms(p1), unit: "ms" },
    {
      name: "P1 cold start / bare boot (median of per-round ratios)",
      value: round(pairedRatio(coldMs, bareMs)),
      unit: "x",
      goal: P1_GOAL,
    },
    { name: "P7 exec true + wait in a running pod, median", value: ms(median(execMs)), unit: "ms" },
    {
      name: "P7 exec round trip / P1 cold start",
      value: round(ratio(median(execMs), p1), 3),
      unit: "x",
      goal: P7_GOAL,
    },
    { name: "runc reference: ctr run echo, median", value: ms(runc.runMs), unit: "ms" },
    { name: "runc reference: ctr task exec true, median", value: ms(runc.execMs), unit: "ms" },
    { name: "runc reference: exec / run", value: round(ratio(runc.execMs, runc.runMs), 3), unit: "x" },
    { name: "P1 cold start / runc ctr run", value: round(ratio(p1, runc.runMs), 1), unit: "x" },
  ];
  return { bareMs, coldMs, execMs, rows };
}

/** `ctr run --rm` echo and `ctr task exec` true with runc in a private containerd, medians in ms. */
export async function runcReference(count: number): Promise<{ runMs: number; execMs: number }> {
  const dir = await Deno.makeTempDir({ prefix: "cocoon-runc-bench-" });
  const ctrd = await startContainerd();
  const path = ["--env", "PATH=/bin:/sbin:/usr/bin"];
  try {
    const rootfs = await makeBusyboxRootfs(dir);
    const run: number[] = [];
    for (let i = 0; i < Math.max(1, Math.min(count, 3)); i++) {
      const t0 = performance.now();
      const r = await ctrd.ctr([
        "run",
        "--rm",
        "--runtime",
        "io.containerd.runc.v2",
        ...path,
        "--rootfs",
        rootfs,
        `r-echo-${i}`,
        "echo",
        "hi",
      ]);
      run.push(performance.now() - t0);
      if (r.stdout !== "hi\n") {
        throw new Error(`Cannot bench runc: ctr run printed ${JSON.stringify(r.stdout)}: ${r.stderr}`);
      }
    }
    const d = await ctrd.ctr([
      "run",
      "-d",
      "--runtime",
      "io.containerd.runc.v2",
      ...path,
      "--rootfs",
      rootfs,
      "r-sleep",
      "sleep",
      "3600",
    ]);
    if (d.code !== 0) throw new Error(`Cannot bench runc: ctr run -d failed: ${d.stderr}`);
    const exec: number[] = [];
    try {
      for (let i = 0; i < count; i++) {
        const t0 = performance.now();
        const r = await ctrd.ctr(["task", "exec", "--exec-id", `e${i}`, "r-sleep", "true"]);
        exec.push(performance.now() - t0);
        if (r.code !== 0) throw new Error(`Cannot bench runc: ctr task exec failed: ${r.stderr}`);
      }
    } finally {
      await ctrd.ctr(["task", "kill", "-s", "KILL", "r-sleep"]);
      for (let i = 0; i < 50; i++) {
        if ((await ctrd.ctr(["task", "rm", "-f", "r-sleep"])).code === 0) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      await ctrd.ctr(["container", "rm", "r-sleep"]);
    }
    return { runMs: median(run), execMs: median(exec) };
  } finally {
    await ctrd.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

function ms(v: number): number {
  return Math.round(v);
}

function tag(): string {
  return crypto.randomUUID().slice(0, 6);
}

if (import.meta.main) {
  const r = await benchStart({ rounds: Number(Deno.args[0] ?? 2), execs: Number(Deno.args[1] ?? 5) });
  // deno-lint-ignore no-console
  for (const row of r.rows) console.log(`${row.name}: ${row.value} ${row.unit} ${row.goal ?? ""}`);
}
