/**
 * Boot benchmark, in one run and alternating so that host load hits both sides alike:
 *
 * - bare: the same kernel and initrd, powered off by /init as soon as it runs (`cocoon.stop=init`,
 *   no userland disk), started through the QEMU plugin exactly like a sandbox VM; timed from
 *   `vm.start()` to QEMU's exit.
 * - agent-ready: the default guest image (erofs userland on virtio-pmem with DAX, as a sandbox gets
 *   it; `userland: "virtio-blk"` for the disk) through the QEMU plugin,
 *   timed from `vm.start()` until `AgentClient.connect()` returns (Health SERVING).
 *
 * Figures: best and median of each over N rounds, the ratio agent-ready / bare (goal <= 1.6: the
 * median of the per-round ratios, as each round's pair ran back to back; also best/best), the
 * guest's memory in use after boot (MemTotal - MemAvailable, from the agent's GetMetrics) and the
 * host-side RSS/PSS of the QEMU process. Every VM is stopped and every temp dir removed.
 *
 * Run: node_modules/.bin/deno task bench boot   (or: deno run --allow-all tests/bench/boot_bench.ts)
 *
 * @module
 */
import qemuPlugin from "../../plugins/hypervisor/qemu/mod.ts";
import type { Device, Hypervisor, Vm } from "../../plugins/types.ts";
import { AgentClient } from "../../runtime/agent_client/client.ts";
import { deviceId, sandboxId } from "../../runtime/ids.ts";
import { createLogger, type Logger, nullSink } from "../../runtime/log/logger.ts";
import type { GuestImage } from "../../runtime/guest/mod.ts";
import { ensureGuestImage } from "../utils/guest.ts";

export interface BootBenchOptions {
  /** Rounds of (bare, agent-ready), alternating. @default 3 */
  rounds?: number;
  /** Guest memory, MiB. @default 512 */
  memoryMiB?: number;
  /** @default 2 */
  vcpus?: number;
  /** The image to boot (default: the real agent's, from ensureGuestImage()). */
  image?: GuestImage;
  /** Extra kernel parameters for both sides. */
  kernelParams?: readonly string[];
  /** Per-boot timeout. @default 180000 */
  timeoutMs?: number;
  /** More `[hypervisor.qemu]` keys for the QEMU plugin (`{ free_page_reporting: false }`). */
  qemu?: Readonly<Record<string, unknown>>;
  /**
   * How the agent boot attaches the userland image: mapped with DAX from virtio-pmem (what a
   * sandbox gets by default) or read through virtio-blk (`disable_image_nvdimm = true`).
   * @default "virtio-pmem"
   */
  userland?: "virtio-pmem" | "virtio-blk";
  /** How long the booted guest idles before its memory is read, ms. @default 0 */
  settleMs?: number;
  signal?: AbortSignal;
}

export interface BootBenchRow {
  readonly name: string;
  readonly value: number;
  readonly unit: string;
  readonly goal?: string;
}

export interface BootBenchResult {
  readonly bareMs: readonly number[];
  readonly readyMs: readonly number[];
  /** QEMU's CPU time (user + system) for each boot: less sensitive to host load than wall time. */
  readonly bareCpuMs: readonly number[];
  readonly readyCpuMs: readonly number[];
  /** Guest uptime when /init ran (the kernel's own boot), seconds, per bare boot. */
  readonly bareInitS: readonly number[];
  readonly guestMemUsedBytes: number;
  readonly guestMemTotalBytes: number;
  readonly qemuRssBytes: number;
  readonly qemuPssBytes: number;
  readonly rows: readonly BootBenchRow[];
}

const GOAL = "<= 1.6";

/** Runs the boot benchmark; rows are ready for tests/bench/main.ts's `fig()`. */
export async function benchBoot(opts: BootBenchOptions = {}): Promise<BootBenchResult> {
  const rounds = opts.rounds ?? 3;
  const log = createLogger({ sink: nullSink });
  const image = opts.image ??
    await ensureGuestImage({ agent: "real", ...(opts.signal ? { signal: opts.signal } : {}) });
  if (image.rootfs === null) throw new Error(`Cannot bench boot: image "${image.dir}" has no userland`);
  const runDir = await Deno.makeTempDir({ prefix: "cocoon-boot-bench-" });
  const hv = await qemuPlugin.create({ log, config: { accelerator: "auto", ...opts.qemu }, runDir });
  const bareMs: number[] = [];
  const readyMs: number[] = [];
  const bareCpuMs: number[] = [];
  const readyCpuMs: number[] = [];
  const bareInitS: number[] = [];
  let mem = { used: 0, total: 0, rss: 0, pss: 0 };
  try {
    for (let i = 0; i < rounds; i++) {
      opts.signal?.throwIfAborted();
      const b = await bareBoot(hv, image, runDir, i, opts);
      bareMs.push(b.ms);
      bareCpuMs.push(b.cpuMs);
      bareInitS.push(b.initS);
      const r = await agentBoot(hv, image, runDir, i, opts, log);
      readyMs.push(r.ms);
      readyCpuMs.push(r.cpuMs);
      if (i === rounds - 1) mem = r.mem;
    }
  } finally {
    await Deno.remove(runDir, { recursive: true }).catch(() => {});
  }
  const best = (a: number[]) => Math.min(...a);
  const ratioBest = best(readyMs) / best(bareMs);
  const ratioMedian = median(readyMs) / median(bareMs);
  // Each round's pair ran back to back, so its ratio sees the same host load on both sides.
  const ratioPaired = median(readyMs.map((r, i) => r / (bareMs[i] ?? Number.NaN)));
  const cpuRatio = median(readyCpuMs.map((r, i) => r / (bareCpuMs[i] ?? Number.NaN)));
  const ms = (v: number) => Math.round(v);
  const mib = (b: number) => Math.round(b / 2 ** 20 * 10) / 10;
  const rows: BootBenchRow[] = [
    { name: "bare boot to /init (baseline), best", value: ms(best(bareMs)), unit: "ms" },
    { name: "bare boot to /init (baseline), median", value: ms(median(bareMs)), unit: "ms" },
    { name: "guest uptime at /init (kernel boot), median", value: ms(median(bareInitS) * 1000), unit: "ms" },
    { name: "boot to agent ready, best", value: ms(best(readyMs)), unit: "ms" },
    { name: "boot to agent ready, median", value: ms(median(readyMs)), unit: "ms" },
    {
      name: "agent ready / bare boot (median of per-round ratios)",
      value: round2(ratioPaired),
      unit: "x",
      goal: GOAL,
    },
    { name: "agent ready / bare boot (best / best)", value: round2(ratioBest), unit: "x" },
    { name: "agent ready / bare boot (median / median)", value: round2(ratioMedian), unit: "x" },
    { name: "qemu CPU time, bare boot (median)", value: ms(median(bareCpuMs)), unit: "ms" },
    { name: "qemu CPU time, boot to agent ready (median)", value: ms(median(readyCpuMs)), unit: "ms" },
    {
      name: "agent ready / bare boot, qemu CPU time (median of per-round)",
      value: round2(cpuRatio),
      unit: "x",
    },
    { name: "guest memory in use after boot", value: mib(mem.used), unit: "MiB" },
    { name: "guest memory total", value: mib(mem.total), unit: "MiB" },
    { name: "qemu RSS after boot", value: mib(mem.rss), unit: "MiB" },
    { name: "qemu PSS after boot", value: mib(mem.pss), unit: "MiB" },
  ];
  return {
    bareMs,
    readyMs,
    bareCpuMs,
    readyCpuMs,
    bareInitS,
    guestMemUsedBytes: mem.used,
    guestMemTotalBytes: mem.total,
    qemuRssBytes: mem.rss,
    qemuPssBytes: mem.pss,
    rows,
  };
}

function vmConfig(
  image: GuestImage,
  stateDir: string,
  name: string,
  opts: BootBenchOptions,
  extra: { params: string[]; devices: Device[] },
) {
  const memoryMiB = opts.memoryMiB ?? 512;
  const vcpus = opts.vcpus ?? 2;
  return {
    id: sandboxId(name),
    stateDir,
    kernel: image.kernel,
    initrd: image.initrd,
    kernelParams: [image.manifest.cmdline, ...(opts.kernelParams ?? []), ...extra.params],
    vcpus,
    maxVcpus: vcpus,
    memoryMiB,
    maxMemoryMiB: memoryMiB,
    devices: extra.devices,
    accelerator: "auto" as const,
    agentChannel: "virtio-serial" as const,
    consoleLog: `${stateDir}/console.log`,
  };
}

/** Boots of the bare baseline (same kernel and initrd, /init powers off at once), ms each. */
export interface BareBooter {
  boot(): Promise<number>;
  close(): Promise<void>;
}

/** A QEMU plugin instance and run dir for bare boots of `image`; `close()` removes the dir. */
export async function openBareBooter(image: GuestImage, opts: BootBenchOptions = {}): Promise<BareBooter> {
  const runDir = await Deno.makeTempDir({ prefix: "cocoon-bare-boot-" });
  const hv = await qemuPlugin.create({
    log: createLogger({ sink: nullSink }),
    config: { accelerator: "auto" },
    runDir,
  });
  let round = 0;
  return {
    boot: async () => (await bareBoot(hv, image, runDir, round++, opts)).ms,
    close: () => Deno.remove(runDir, { recursive: true }).catch(() => {}),
  };
}

/** QEMU start to QEMU exit, /init powering off at once. */
async function bareBoot(
  hv: Hypervisor,
  image: GuestImage,
  runDir: string,
  round: number,
  opts: BootBenchOptions,
): Promise<{ ms: number; cpuMs: number; initS: number }> {
  const stateDir = await Deno.makeTempDir({ dir: runDir, prefix: "bare-" });
  const vm = await hv.createVm(
    vmConfig(image, stateDir, `bench-bare-${round}`, opts, { params: ["cocoon.stop=init"], devices: [] }),
  );
  try {
    const t0 = performance.now();
    await vm.start();
    // QEMU's CPU time is read until it exits (a gone process has no /proc entry).
    const pid = vm.pids()[0];
    let cpuMs = 0;
    let done = false;
    const exited = vm.wait().finally(() => (done = true));
    while (!done && pid !== undefined) {
      cpuMs = Math.max(cpuMs, await cpuTimeMs(pid));
      await Promise.race([exited, new Promise((r) => setTimeout(r, 20))]);
    }
    await withTimeout(exited, opts.timeoutMs ?? 180_000, "bare boot");
    const ms = performance.now() - t0;
    const console = await Deno.readTextFile(`${stateDir}/console.log`).catch(() => "");
    if (!console.includes("stop requested at stage init")) {
      throw new Error(`Cannot bench boot: the bare guest did not reach /init:\n${console.slice(-2000)}`);
    }
    const init = /stage init at ([\d.]+)s/.exec(console);
    return { ms, cpuMs, initS: init === null ? Number.NaN : Number(init[1]) };
  } finally {
    await stopVm(vm);
  }
}

/** QEMU start to Health SERVING, then memory figures. */
async function agentBoot(
  hv: Hypervisor,
  image: GuestImage,
  runDir: string,
  round: number,
  opts: BootBenchOptions,
  log: Logger,
): Promise<{ ms: number; cpuMs: number; mem: { used: number; total: number; rss: number; pss: number } }> {
  const stateDir = await Deno.makeTempDir({ dir: runDir, prefix: "agent-" });
  const path = image.rootfs ?? "";
  const pmem = (opts.userland ?? "virtio-pmem") === "virtio-pmem";
  const sizeBytes = (await Deno.stat(path)).size;
  const userland: Device = pmem
    ? { kind: "block", id: deviceId("userland"), path, readOnly: true, driver: "nvdimm", sizeBytes }
    : { kind: "block", id: deviceId("userland"), path, readOnly: true, driver: "virtio-blk" };
  const params = pmem ? ["cocoon.userland=/dev/pmem0", "cocoon.userland_opts=dax=always"] : [];
  const config = vmConfig(image, stateDir, `bench-agent-${round}`, opts, { params, devices: [userland] });
  // a virtio-pmem device is mapped above the guest's memory: room for it as a sandbox has
  const vm = await hv.createVm({
    ...config,
    maxMemoryMiB: config.memoryMiB + (pmem ? Math.ceil(sizeBytes / 2 ** 20) : 0),
  });
  let agent: AgentClient | undefined;
  try {
    const t0 = performance.now();
    await vm.start();
    agent = await AgentClient.connect(vm.agentAddress(), { timeoutMs: opts.timeoutMs ?? 180_000, log });
    const ms = performance.now() - t0;
    const pid = vm.pids()[0];
    const cpuMs = pid === undefined ? 0 : await cpuTimeMs(pid);
    if ((opts.settleMs ?? 0) > 0) await new Promise((r) => setTimeout(r, opts.settleMs));
    const metrics = parseMetrics(await agent.metrics());
    const total = metrics.get("cocoon_guest_memory_total_bytes") ?? 0;
    const available = metrics.get("cocoon_guest_memory_available_bytes") ?? 0;
    const rollup = pid === undefined ? new Map<string, number>() : await smapsRollup(pid);
    return {
      ms,
      cpuMs,
      mem: {
        used: total - available,
        total,
        rss: (rollup.get("Rss") ?? 0) * 1024,
        pss: (rollup.get("Pss") ?? 0) * 1024,
      },
    };
  } finally {
    agent?.close();
    await stopVm(vm);
  }
}

async function stopVm(vm: Vm): Promise<void> {
  await vm.stop({ force: true, timeoutMs: 5_000 }).catch(() => {});
  await Promise.resolve(vm[Symbol.asyncDispose]()).catch(() => {});
}

/** `name value` lines of Prometheus text. Pure. */
export function parseMetrics(text: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of text.split("\n")) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v && !k.startsWith("#") && Number.isFinite(Number(v))) m.set(k, Number(v));
  }
  return m;
}

/** utime + stime of a process, ms (0 when it is gone); clock ticks are 100 Hz on Linux. */
async function cpuTimeMs(pid: number): Promise<number> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`).catch(() => "");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11] ?? 0) + Number(f[12] ?? 0)) * 10;
}

/** kB fields of /proc/<pid>/smaps_rollup. */
async function smapsRollup(pid: number): Promise<Map<string, number>> {
  const m = new Map<string, number>();
  const text = await Deno.readTextFile(`/proc/${pid}/smaps_rollup`).catch(() => "");
  for (const line of text.split("\n")) {
    const r = /^(\w+):\s+(\d+) kB/.exec(line);
    if (r?.[1] && r[2]) m.set(r[1], Number(r[2]));
  }
  return m;
}

function median(a: readonly number[]): number {
  const s = [...a].sort((x, y) => x - y);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] ?? 0 : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

function round2(v: number): number {
  return Math.round(v * 100) / 100;
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Cannot bench boot: ${what} took over ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, t]);
  } finally {
    clearTimeout(timer);
  }
}

if (import.meta.main) {
  const r = await benchBoot({ rounds: Number(Deno.args[0] ?? 3) });
  // deno-lint-ignore no-console
  console.log(JSON.stringify({ bareMs: r.bareMs.map(Math.round), readyMs: r.readyMs.map(Math.round) }));
  // deno-lint-ignore no-console
  for (const row of r.rows) console.log(`${row.name}: ${row.value} ${row.unit}`);
}
