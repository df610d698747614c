/**
 * The tuned guest kernel against Debian's prebuilt one, in one run: the same agent and userland,
 * the boot benchmark (tests/bench/boot_bench.ts) on each image, alternating. Figures: the guest's
 * uptime when /init runs (the kernel's own boot; goal: the tuned one at most 0.3 of Debian's), the
 * bare boot and boot-to-agent-ready wall times, QEMU's PSS after boot, and their ratios. Then free
 * page reporting on and off (`[hypervisor.qemu] free_page_reporting`) on the tuned image: QEMU's PSS
 * after the booted guest idled 8 s. Then the userland image mapped with DAX from virtio-pmem (the
 * default) against virtio-blk: boot to agent ready and memory.
 *
 * Needs the tuned kernel built (`cocoon guest build --kernel tuned`; `bash dev.sh bench` does it).
 *
 * @module
 */
import { benchBoot, type BootBenchResult } from "./boot_bench.ts";
import { median, ratio, round, type Row } from "./figures.ts";
import { ensureGuestImage } from "../utils/guest.ts";

export async function benchKernels(opts: { rounds?: number } = {}): Promise<{ rows: Row[] }> {
  const tuned = await ensureGuestImage({ agent: "real", kernel: "tuned" });
  const debian = await ensureGuestImage({ agent: "real", kernel: "debian" });
  const rounds = opts.rounds ?? 2;
  const runs: { tuned: BootBenchResult[]; debian: BootBenchResult[] } = { tuned: [], debian: [] };
  for (let i = 0; i < rounds; i++) {
    runs.debian.push(await benchBoot({ image: debian, rounds: 1 }));
    runs.tuned.push(await benchBoot({ image: tuned, rounds: 1 }));
  }
  const of = (k: "tuned" | "debian", f: (r: BootBenchResult) => number) => median(runs[k].map(f));
  const init = (r: BootBenchResult) => (r.bareInitS[0] ?? Number.NaN) * 1000;
  const bare = (r: BootBenchResult) => r.bareMs[0] ?? Number.NaN;
  const ready = (r: BootBenchResult) => r.readyMs[0] ?? Number.NaN;
  const pss = (r: BootBenchResult) => r.qemuPssBytes / 2 ** 20;
  const guest = (r: BootBenchResult) => r.guestMemUsedBytes / 2 ** 20;
  const rows: Row[] = [];
  for (const k of ["debian", "tuned"] as const) {
    const label = k === "tuned"
      ? `tuned ${tuned.manifest.kernel.release}`
      : `Debian ${debian.manifest.kernel.release}`;
    rows.push(
      { name: `${label}: guest uptime at /init, median`, value: round(of(k, init), 0), unit: "ms" },
      { name: `${label}: bare boot to /init, median`, value: round(of(k, bare), 0), unit: "ms" },
      { name: `${label}: boot to agent ready, median`, value: round(of(k, ready), 0), unit: "ms" },
      { name: `${label}: QEMU PSS after boot`, value: round(of(k, pss), 1), unit: "MiB" },
      { name: `${label}: guest memory in use after boot`, value: round(of(k, guest), 1), unit: "MiB" },
    );
  }
  const vs = (what: string, f: (r: BootBenchResult) => number, goal?: string): Row => ({
    name: `tuned / Debian: ${what}`,
    value: round(ratio(of("tuned", f), of("debian", f))),
    unit: "x",
    ...(goal !== undefined ? { goal } : {}),
  });
  rows.push(
    vs("guest uptime at /init", init, "<= 0.3"),
    vs("bare boot", bare),
    vs("boot to agent ready", ready, "<= 1"),
    vs("QEMU PSS after boot", pss, "<= 1"),
    {
      name: "tuned / Debian: kernel image size",
      value: round(ratio(tuned.manifest.files.vmlinuz.size, debian.manifest.files.vmlinuz.size)),
      unit: "x",
    },
  );
  // free page reporting: the guest reports what it freed after boot, QEMU hands it back
  const settle = { image: tuned, rounds: 1, settleMs: 8000 };
  const on: number[] = [];
  const off: number[] = [];
  for (let i = 0; i < rounds; i++) {
    off.push((await benchBoot({ ...settle, qemu: { free_page_reporting: false } })).qemuPssBytes / 2 ** 20);
    on.push((await benchBoot({ ...settle, qemu: { free_page_reporting: true } })).qemuPssBytes / 2 ** 20);
  }
  rows.push(
    { name: "free page reporting off: QEMU PSS 8 s after boot", value: round(median(off), 1), unit: "MiB" },
    { name: "free page reporting on: QEMU PSS 8 s after boot", value: round(median(on), 1), unit: "MiB" },
    {
      name: "free page reporting on / off: QEMU PSS",
      value: round(ratio(median(on), median(off))),
      unit: "x",
      goal: "<= 1",
    },
  );
  // the userland image mapped with DAX from virtio-pmem (the default) against read from virtio-blk
  const blk: BootBenchResult[] = [];
  const pmem: BootBenchResult[] = [];
  for (let i = 0; i < rounds; i++) {
    blk.push(await benchBoot({ ...settle, userland: "virtio-blk" }));
    pmem.push(await benchBoot({ ...settle, userland: "virtio-pmem" }));
  }
  const ul = (rs: BootBenchResult[], f: (r: BootBenchResult) => number) => median(rs.map(f));
  for (const [label, rs] of [["virtio-blk", blk], ["virtio-pmem (DAX)", pmem]] as const) {
    rows.push(
      {
        name: `userland on ${label}: boot to agent ready, median`,
        value: round(ul(rs, ready), 0),
        unit: "ms",
      },
      { name: `userland on ${label}: QEMU PSS 8 s after boot`, value: round(ul(rs, pss), 1), unit: "MiB" },
      { name: `userland on ${label}: guest memory in use`, value: round(ul(rs, guest), 1), unit: "MiB" },
    );
  }
  rows.push(
    {
      name: "userland virtio-pmem / virtio-blk: boot to agent ready",
      value: round(ratio(ul(pmem, ready), ul(blk, ready))),
      unit: "x",
      goal: "<= 1.05",
    },
    {
      name: "userland virtio-pmem / virtio-blk: QEMU PSS (one VM: the image's pages count whole)",
      value: round(ratio(ul(pmem, pss), ul(blk, pss))),
      unit: "x",
    },
  );
  return { rows };
}
