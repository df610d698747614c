/**
 * Shim benchmark: `ctr run … echo hi` through Cocoon (shim + daemon + VM boot) against the same
 * with runc in the same run (baseline), and host memory per pod: with N pods running (`ctr run -d`
 * sleep), the PSS of every QEMU plus the daemon's PSS, divided by N.
 *
 *   deno run --allow-all tests/e2e/shim_bench.ts [pods]     (default 10 pods)
 *
 * `benchShim()` is the section `deno task bench` can call (tests/bench/main.ts).
 *
 * @module
 */
import { makeBusyboxRootfs } from "../../agent/testing/rootfs.ts";
import { pidsMentioning, RUNTIME, type ShimWorld, withShimWorld } from "../integration/shim_harness.ts";
import { guestImage, PATH, pssKiB, writeConfig } from "./shim_vm_env.ts";

export interface ShimBenchRow {
  readonly name: string;
  readonly value: number;
  readonly unit: string;
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const r = await fn();
  return [r, Math.round(performance.now() - t0)];
}

const POD_TIMEOUT_MS = 240_000;

/** Kills and removes the pods (tasks first, then containers); what is left goes with the world. */
async function stopPods(w: ShimWorld, ids: readonly number[]): Promise<void> {
  await Promise.all(ids.map((i) => w.ctrd.ctr(["task", "kill", "-s", "KILL", `b-pod${i}`]).catch(() => {})));
  for (const i of ids) {
    for (let k = 0; k < 30; k++) {
      const r = await w.ctrd.ctr(["task", "rm", "-f", `b-pod${i}`]).catch(() => ({ code: -1 }));
      if (r.code === 0) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    await w.ctrd.ctr(["container", "rm", `b-pod${i}`]).catch(() => {});
  }
}

/** Runs the benchmark with `pods` concurrent pods for the memory figure. */
export async function benchShim(
  opts: { pods?: number; onRow?: (r: ShimBenchRow) => void } = {},
): Promise<{ rows: ShimBenchRow[] }> {
  const pods = opts.pods ?? 10;
  const rows: ShimBenchRow[] = [];
  const add = (r: ShimBenchRow) => {
    rows.push(r);
    opts.onRow?.(r);
  };
  const image = await guestImage();
  const started: number[] = [];
  await withShimWorld({
    embedded: false,
    prepare: async (dir) => ({
      rootfs: await makeBusyboxRootfs(dir),
      env: { COCOON_CONFIG: await writeConfig(dir, image) },
    }),
  }, async (w) => {
    const [runc, runcMs] = await timed(() =>
      w.ctrd.ctr([
        "run",
        "--rm",
        "--runtime",
        "io.containerd.runc.v2",
        ...PATH,
        "--rootfs",
        w.rootfs,
        "b-runc",
        "echo",
        "hi",
      ])
    );
    if (runc.stdout !== "hi\n") throw new Error(`runc baseline failed: ${runc.stderr}`);
    const [cocoon, cocoonMs] = await timed(() => w.run(["--rm", ...PATH], "b-cocoon", ["echo", "hi"]));
    if (cocoon.stdout !== "hi\n") throw new Error(`cocoon run failed: ${cocoon.stderr}`);
    add({ name: "ctr run echo, runc (baseline)", value: runcMs, unit: "ms" });
    add({ name: "ctr run echo, cocoon (VM boot included)", value: cocoonMs, unit: "ms" });
    add({ name: "cocoon / runc", value: Math.round((cocoonMs / runcMs) * 10) / 10, unit: "x" });

    try {
      await podFigures(w, pods, started, add);
    } finally {
      await stopPods(w, started);
    }
  });
  return { rows };
}

/** Starts `pods` sleeping pods (ids pushed to `started`), then adds the memory rows. */
async function podFigures(
  w: ShimWorld,
  pods: number,
  started: number[],
  add: (r: ShimBenchRow) => void,
): Promise<void> {
  // Two pods boot at a time (TCG: a booting guest keeps one core busy); each start is bounded.
  const t0 = performance.now();
  const queue = Array.from({ length: pods }, (_, i) => i);
  const startOne = async (i: number) => {
    const r = await w.ctrd.ctr(
      ["run", "--runtime", RUNTIME, "-d", ...PATH, "--rootfs", w.rootfs, `b-pod${i}`, "sleep", "3600"],
      { signal: AbortSignal.timeout(POD_TIMEOUT_MS) },
    ).catch((e) => ({ code: -1, stdout: "", stderr: String(e) }));
    if (r.code !== 0) throw new Error(`pod ${i} failed: ${r.stderr}`);
    started.push(i);
  };
  await Promise.all([0, 1].map(async () => {
    for (let i = queue.shift(); i !== undefined; i = queue.shift()) await startOne(i);
  }));
  add({
    name: `${pods} pods started (ctr run -d, 2 at a time), wall`,
    value: Math.round(performance.now() - t0),
    unit: "ms",
  });
  // Idle a few seconds so the figures are those of idle pods.
  await new Promise((r) => setTimeout(r, 5000));
  const qemu = await pidsMentioning(w.dir, "qemu-system");
  const daemonPid = Number(await Deno.readTextFile(`${w.daemonDir}/daemon.pid`));
  let qemuKiB = 0;
  for (const pid of qemu) qemuKiB += await pssKiB(pid);
  const daemonKiB = await pssKiB(daemonPid);
  add({
    name: `QEMU PSS per pod (${qemu.length} pods)`,
    value: Math.round(qemuKiB / qemu.length / 1024),
    unit: "MiB",
  });
  add({ name: "daemon PSS (all pods)", value: Math.round(daemonKiB / 1024), unit: "MiB" });
  add({
    name: `host memory per pod (QEMU + daemon share, ${pods} pods)`,
    value: Math.round((qemuKiB + daemonKiB) / pods / 1024),
    unit: "MiB",
  });
}

if (import.meta.main) {
  await benchShim({
    pods: Number(Deno.args[0] ?? 10),
    // deno-lint-ignore no-console
    onRow: (r) => console.log(`${r.name.padEnd(60)} ${String(r.value).padStart(8)} ${r.unit}`),
  });
}
