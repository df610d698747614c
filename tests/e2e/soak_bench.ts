/**
 * Soak: `pods` containerd pods created and deleted `cycles` times through the installed shim and
 * daemon, with one anchor pod kept running so the same daemon serves the whole soak. After every
 * cycle: no QEMU but the anchor's, no mount, socket or tap left by the cycle's pods; the daemon's
 * PSS (and its supervisor's) is sampled. The figures: the cycle time, the daemon's PSS after the first and the last cycle
 * (flat memory: their ratio), and the leaks counted.
 *
 *   deno run --allow-all tests/e2e/soak_bench.ts [pods] [cycles]     (the soak: 20 50)
 *
 * `benchSoak()` is the section `deno task bench soak` runs (only when named: it is long).
 *
 * @module
 */
import { makeBusyboxRootfs } from "../../agent/testing/rootfs.ts";
import { pidsMentioning, RUNTIME, type ShimWorld, withShimWorld } from "../integration/shim_harness.ts";
import { guestImage, PATH, pssKiB, writeConfig } from "./shim_vm_env.ts";
import type { ShimBenchRow } from "./shim_bench.ts";

const POD_TIMEOUT_MS = 240_000;

async function run(w: ShimWorld, id: string): Promise<void> {
  const r = await w.ctrd.ctr(
    ["run", "--runtime", RUNTIME, "-d", ...PATH, "--rootfs", w.rootfs, id, "sleep", "3600"],
    { signal: AbortSignal.timeout(POD_TIMEOUT_MS) },
  ).catch((e) => ({ code: -1, stdout: "", stderr: String(e) }));
  if (r.code !== 0) throw new Error(`pod ${id} failed: ${r.stderr}`);
}

async function remove(w: ShimWorld, id: string): Promise<void> {
  await w.ctrd.ctr(["task", "kill", "-s", "KILL", id]).catch(() => {});
  for (let k = 0; k < 30; k++) {
    const r = await w.ctrd.ctr(["task", "rm", "-f", id]).catch(() => ({ code: -1 }));
    if (r.code === 0) break;
    await new Promise((res) => setTimeout(res, 500));
  }
  await w.ctrd.ctr(["container", "rm", id]).catch(() => {});
}

/** Mounts, sockets and taps under or of the world: what a cycle must not leave. */
async function residue(w: ShimWorld): Promise<string[]> {
  const mounts = (await Deno.readTextFile("/proc/self/mountinfo")).split("\n")
    .map((l) => l.split(" ")[4] ?? "").filter((m) => m.startsWith(w.dir));
  const links = new TextDecoder().decode(
    (await new Deno.Command("ip", { args: ["-o", "link"] }).output()).stdout,
  )
    .split("\n").filter((l) => / (tap|ck)[0-9a-f]/.test(l));
  return [...mounts.map((m) => `mount ${m}`), ...links.map((l) => `link ${l.split(":")[1]?.trim()}`)];
}

/** Runs the soak. */
export async function benchSoak(
  opts: { pods?: number; cycles?: number; onRow?: (r: ShimBenchRow) => void } = {},
): Promise<{ rows: ShimBenchRow[] }> {
  const pods = opts.pods ?? 20, cycles = opts.cycles ?? 50;
  const rows: ShimBenchRow[] = [];
  const add = (r: ShimBenchRow) => {
    rows.push(r);
    opts.onRow?.(r);
  };
  const image = await guestImage();
  await withShimWorld({
    embedded: false,
    prepare: async (dir) => ({
      rootfs: await makeBusyboxRootfs(dir),
      env: { COCOON_CONFIG: await writeConfig(dir, image) },
    }),
  }, async (w) => {
    await run(w, "soak-anchor");
    const daemonPid = Number(await Deno.readTextFile(`${w.daemonDir}/daemon.pid`));
    const supervisorPid = Number(await Deno.readTextFile(`${w.daemonDir}/supervisor.pid`));
    const supervisorPss: number[] = [];
    const base = await residue(w);
    const pss: number[] = [];
    let leaks = 0;
    const t0 = performance.now();
    try {
      for (let c = 0; c < cycles; c++) {
        const ids = Array.from({ length: pods }, (_, i) => `soak-${c}-${i}`);
        const queue = [...ids];
        // two boots at a time (TCG: a booting guest keeps a core busy)
        await Promise.all([0, 1].map(async () => {
          for (let id = queue.shift(); id !== undefined; id = queue.shift()) await run(w, id);
        }));
        for (const id of ids) await remove(w, id);
        const qemu = await pidsMentioning(w.dir, "qemu-system");
        const extra = (await residue(w)).filter((x) => !base.includes(x));
        if (qemu.length !== 1 || extra.length > 0) {
          leaks += Math.max(0, qemu.length - 1) + extra.length;
          // deno-lint-ignore no-console -- the evidence of a leak
          console.error(`soak cycle ${c}: ${qemu.length} QEMU, left ${extra.join(", ")}`);
        }
        if (await Deno.stat(`/proc/${daemonPid}`).then(() => false, () => true)) {
          throw new Error(`the daemon (pid ${daemonPid}) is gone after cycle ${c}`);
        }
        pss.push(await pssKiB(daemonPid));
        supervisorPss.push(await pssKiB(supervisorPid));
        // deno-lint-ignore no-console -- the trend, cycle by cycle
        console.error(
          `soak cycle ${c}: daemon PSS ${Math.round((pss.at(-1) ?? 0) / 1024)} MiB, its supervisor's ${
            Math.round((supervisorPss.at(-1) ?? 0) / 1024)
          } MiB`,
        );
      }
    } finally {
      await remove(w, "soak-anchor");
    }
    const wall = performance.now() - t0;
    add({
      name: `soak: ${pods} pods x ${cycles} create/delete cycles, per cycle`,
      value: Math.round(wall / cycles),
      unit: "ms",
    });
    add({ name: "soak: leaked processes, mounts, taps", value: leaks, unit: "" });
    add({
      name: "soak: daemon PSS after the first cycle",
      value: Math.round((pss[0] ?? 0) / 1024),
      unit: "MiB",
    });
    add({
      name: "soak: daemon PSS after the last cycle",
      value: Math.round((pss.at(-1) ?? 0) / 1024),
      unit: "MiB",
    });
    for (const [when, kib] of [["first", supervisorPss[0]], ["last", supervisorPss.at(-1)]] as const) {
      add({
        name: `soak: the supervisor's PSS after the ${when} cycle`,
        value: Math.round((kib ?? 0) / 1024),
        unit: "MiB",
      });
    }
    add({
      name: "soak: daemon PSS last / first (flat = 1)",
      value: Math.round(((pss.at(-1) ?? 0) / Math.max(1, pss[0] ?? 1)) * 100) / 100,
      unit: "x",
    });
  });
  return { rows };
}

if (import.meta.main) {
  await benchSoak({
    pods: Number(Deno.args[0] ?? 20),
    cycles: Number(Deno.args[1] ?? 50),
    // deno-lint-ignore no-console
    onRow: (r) => console.log(`${r.name.padEnd(60)} ${String(r.value).padStart(8)} ${r.unit}`),
  });
}
