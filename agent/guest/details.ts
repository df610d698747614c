/**
 * Guest facts and housekeeping: details (kernel, CPUs, memory), CPU/memory onlining through
 * /sys/devices/system/{cpu,memory}/<x>/online|state, and a small Prometheus text of guest metrics.
 *
 * @module
 */
import { RuntimeError } from "../../runtime/errors.ts";
import type { GuestPaths } from "../core.ts";

export interface GuestDetailsInfo {
  readonly kernelRelease: string;
  readonly memoryBlockSizeBytes: number;
  readonly onlineCpus: number;
  readonly totalMemoryBytes: number;
  readonly memoryHotplugProbe: boolean;
}

const read = (p: string) => Deno.readTextFile(p).then((s) => s.trim()).catch(() => undefined);

export async function guestDetails(paths: GuestPaths): Promise<GuestDetailsInfo> {
  const block = await read(`${paths.sys}/devices/system/memory/block_size_bytes`);
  const online = await read(`${paths.sys}/devices/system/cpu/online`);
  const meminfo = (await read(`${paths.proc}/meminfo`)) ?? "";
  const probe = await Deno.stat(`${paths.sys}/devices/system/memory/probe`).then(() => true, () => false);
  return {
    kernelRelease: (await read(`${paths.proc}/sys/kernel/osrelease`)) ?? "",
    memoryBlockSizeBytes: block && /^[0-9a-fA-F]+$/.test(block) ? parseInt(block, 16) : 0,
    onlineCpus: online ? countCpuList(online) : 0,
    totalMemoryBytes: (meminfoKb(meminfo, "MemTotal") ?? 0) * 1024,
    memoryHotplugProbe: probe,
  };
}

/** Counts a kernel CPU list like "0-3,5". Pure. */
export function countCpuList(list: string): number {
  let n = 0;
  for (const part of list.trim().split(",")) {
    if (part === "") continue;
    const [a, b] = part.split("-").map(Number);
    if (a === undefined || !Number.isInteger(a)) continue;
    n += b !== undefined && Number.isInteger(b) ? b - a + 1 : 1;
  }
  return n;
}

/** A `/proc/meminfo` field in kB. Pure. */
export function meminfoKb(text: string, key: string): number | undefined {
  const m = new RegExp(`^${key}:\\s+(\\d+)`, "m").exec(text);
  return m?.[1] !== undefined ? Number(m[1]) : undefined;
}

/** Brings offline CPUs (and, unless cpuOnly, memory blocks) online. Returns how many were onlined. */
export async function onlineCpuMem(
  paths: GuestPaths,
  opts: { cpuOnly?: boolean; wait?: boolean; cpus?: number; timeoutMs?: number } = {},
): Promise<{ cpus: number; memoryBlocks: number }> {
  const deadline = Date.now() + (opts.timeoutMs ?? 5000);
  let cpus = 0;
  let memoryBlocks = 0;
  for (;;) {
    cpus += await onlineAll(`${paths.sys}/devices/system/cpu`, /^cpu\d+$/, "online", "0", "1");
    if (!opts.cpuOnly) {
      memoryBlocks += await onlineAll(
        `${paths.sys}/devices/system/memory`,
        /^memory\d+$/,
        "state",
        "offline",
        "online",
      );
    }
    if (!opts.wait || cpus >= (opts.cpus ?? 0)) return { cpus, memoryBlocks };
    if (Date.now() > deadline) {
      throw new RuntimeError(
        "DeadlineExceeded",
        `Cannot online ${opts.cpus} CPUs: only ${cpus} came online in time`,
      );
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function onlineAll(dir: string, name: RegExp, file: string, off: string, on: string): Promise<number> {
  let n = 0;
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(dir));
  } catch {
    return 0;
  }
  for (const e of entries) {
    if (!name.test(e.name)) continue;
    const p = `${dir}/${e.name}/${file}`;
    const cur = await read(p);
    if (cur !== off) continue;
    await Deno.writeTextFile(p, on);
    n++;
  }
  return n;
}

/** Guest metrics as Prometheus text. */
export async function guestMetrics(paths: GuestPaths): Promise<string> {
  const meminfo = (await read(`${paths.proc}/meminfo`)) ?? "";
  const load = ((await read(`${paths.proc}/loadavg`)) ?? "").split(" ");
  const lines: string[] = [];
  for (
    const [key, name] of [["MemTotal", "total"], ["MemFree", "free"], ["MemAvailable", "available"], [
      "Cached",
      "cached",
    ]]
  ) {
    const kb = key ? meminfoKb(meminfo, key) : undefined;
    if (kb !== undefined) lines.push(`cocoon_guest_memory_${name}_bytes ${kb * 1024}`);
  }
  if (load[0]) lines.push(`cocoon_guest_load1 ${Number(load[0])}`);
  return lines.join("\n") + "\n";
}
