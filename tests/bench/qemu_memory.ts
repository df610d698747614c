/**
 * Where a QEMU's memory goes: its /proc/<pid>/smaps, each mapping's PSS put in one part. The
 * memory bench reports the parts per pod, so a change shows which part it moved.
 *
 * @module
 */

/** The parts of a QEMU's PSS. */
export type QemuPart =
  | "guest RAM"
  | "TCG translation buffer"
  | "userland image (DAX, shared)"
  | "heap and malloc arenas"
  | "binary and libraries"
  | "other";

export const QEMU_PARTS: readonly QemuPart[] = [
  "guest RAM",
  "TCG translation buffer",
  "userland image (DAX, shared)",
  "heap and malloc arenas",
  "binary and libraries",
  "other",
];

/** KiB of PSS per part. */
export type QemuBreakdown = Record<QemuPart, number>;

export function emptyBreakdown(): QemuBreakdown {
  return Object.fromEntries(QEMU_PARTS.map((p) => [p, 0])) as QemuBreakdown;
}

/**
 * Splits the PSS of an smaps text into parts. Guest RAM is the mapping of the guest's memory size
 * (`guestRamKiB`: memfd, a template's memory file or anonymous); TCG's buffer is anonymous and
 * executable; the userland image is a mapping of a `.erofs` file (virtio-pmem); the rest of the
 * anonymous memory is malloc's. Pure.
 */
export function breakdownSmaps(text: string, guestRamKiB: number): QemuBreakdown {
  const out = emptyBreakdown();
  let part: QemuPart = "other";
  for (const line of text.split("\n")) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) {
      const [, from = "0", to = "0", perms = "", name = ""] = head;
      const kib = Number((BigInt(`0x${to}`) - BigInt(`0x${from}`)) / 1024n);
      part = partOf(kib, perms, name.trim(), guestRamKiB);
      continue;
    }
    const pss = /^Pss:\s+(\d+) kB/.exec(line);
    if (pss) out[part] += Number(pss[1]);
  }
  return out;
}

function partOf(kib: number, perms: string, name: string, guestRamKiB: number): QemuPart {
  if (kib === guestRamKiB && perms.startsWith("rw")) return "guest RAM";
  if (name.endsWith(".erofs")) return "userland image (DAX, shared)";
  if (name === "" || name === "[heap]") {
    return perms === "rwxp" ? "TCG translation buffer" : "heap and malloc arenas";
  }
  if (name.startsWith("/") && !name.startsWith("/memfd:")) return "binary and libraries";
  return "other";
}

/** The breakdown of QEMU `pid` (all zero once it is gone). */
export async function qemuBreakdown(pid: number, guestRamKiB: number): Promise<QemuBreakdown> {
  const text = await Deno.readTextFile(`/proc/${pid}/smaps`).catch(() => "");
  return breakdownSmaps(text, guestRamKiB);
}

/** Adds `b` into `into`. */
export function addBreakdown(into: QemuBreakdown, b: QemuBreakdown): void {
  for (const p of QEMU_PARTS) into[p] += b[p];
}
