/**
 * VMM usage from /proc: CPU time (utime + stime of /proc/<pid>/stat), RSS (VmRSS of
 * /proc/<pid>/status) and PSS (/proc/<pid>/smaps_rollup).
 *
 * @module
 */
import type { VmmUsage } from "./types.ts";

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ, 100 on Linux). */
const CLK_TCK = 100;

/** CPU seconds from a /proc/<pid>/stat line. Pure. */
export function parseStatCpuSeconds(stat: string): number {
  // comm may hold spaces and parentheses: fields start after the last ")"; utime is field 14.
  const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(rest[11]) + Number(rest[12]);
  return Number.isFinite(ticks) ? ticks / CLK_TCK : 0;
}

/** A `Key:  N kB` field of /proc status-like text, in bytes, or null. Pure. */
export function parseKbField(text: string, key: string): number | null {
  const m = new RegExp(`^${key}:\\s+(\\d+)\\s+kB$`, "m").exec(text);
  return m ? Number(m[1]) * 1024 : null;
}

/** Usage of one process, or null when it is gone. */
export async function processUsage(pid: number): Promise<VmmUsage | null> {
  try {
    const [stat, status] = await Promise.all([
      Deno.readTextFile(`/proc/${pid}/stat`),
      Deno.readTextFile(`/proc/${pid}/status`),
    ]);
    const rollup = await Deno.readTextFile(`/proc/${pid}/smaps_rollup`).catch(() => "");
    return {
      cpuSeconds: parseStatCpuSeconds(stat),
      rssBytes: parseKbField(status, "VmRSS") ?? 0,
      pssBytes: parseKbField(rollup, "Pss"),
    };
  } catch {
    return null;
  }
}

/** Summed usage of the VMM processes, or null when none runs. */
export async function vmmUsage(pids: readonly number[]): Promise<VmmUsage | null> {
  const all = (await Promise.all(pids.map(processUsage))).filter((u): u is VmmUsage => u !== null);
  if (all.length === 0) return null;
  return {
    cpuSeconds: all.reduce((a, u) => a + u.cpuSeconds, 0),
    rssBytes: all.reduce((a, u) => a + u.rssBytes, 0),
    pssBytes: all.some((u) => u.pssBytes === null) ? null : all.reduce((a, u) => a + (u.pssBytes ?? 0), 0),
  };
}
