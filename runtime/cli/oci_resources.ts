/**
 * `update`: OCI `linux.resources` from `--resources FILE` or runc's single flags, and sizes/
 * durations as runc takes them ("512m", "1g"; "5s", "500ms"). Pure.
 *
 * @module
 */
import { RuntimeError } from "../errors.ts";

/** Bytes from "1024", "512k", "256m", "2g" (binary units, as runc). -1 stays -1 (unlimited). */
export function parseBytes(s: string, flag: string): number {
  const m = /^(-1|\d+)([kmgt]?)b?$/i.exec(s.trim());
  if (m === null) {
    throw new RuntimeError("InvalidArgument", `Invalid ${flag} "${s}": expected a size like 512m`);
  }
  if (m[1] === "-1") return -1;
  const mult = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[(m[2] ?? "").toLowerCase()] ?? 1;
  return Number(m[1]) * mult;
}

/** Milliseconds from "5s", "500ms", "1m", "2" (seconds). */
export function parseDurationMs(s: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(s.trim());
  if (m === null) {
    throw new RuntimeError("InvalidArgument", `Invalid ${flag} "${s}": expected a duration like 5s`);
  }
  const mult = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? "s"] ?? 1000;
  const ms = Number(m[1]) * mult;
  if (ms <= 0) throw new RuntimeError("InvalidArgument", `Invalid ${flag} "${s}": must be positive`);
  return ms;
}

function int(s: string, flag: string): number {
  if (!/^-?\d+$/.test(s)) {
    throw new RuntimeError("InvalidArgument", `Invalid ${flag} "${s}": expected an integer`);
  }
  return Number(s);
}

export interface ResourceFlags {
  readonly memory?: string;
  readonly memorySwap?: string;
  readonly memoryReservation?: string;
  readonly cpuShares?: string;
  readonly cpuPeriod?: string;
  readonly cpuQuota?: string;
  readonly cpusetCpus?: string;
  readonly cpusetMems?: string;
  readonly pidsLimit?: string;
  readonly blkioWeight?: string;
}

/** LinuxResources from runc's single flags, on top of `base` (from --resources). */
export function resourcesFromFlags(
  f: ResourceFlags,
  base: Readonly<Record<string, unknown>> = {},
): Record<string, unknown> {
  const obj = (k: string): Record<string, unknown> => {
    const v = base[k];
    return typeof v === "object" && v !== null && !Array.isArray(v) ? { ...v } : {};
  };
  const out: Record<string, unknown> = { ...base };
  const memory = obj("memory");
  if (f.memory !== undefined) memory["limit"] = parseBytes(f.memory, "--memory");
  if (f.memorySwap !== undefined) memory["swap"] = parseBytes(f.memorySwap, "--memory-swap");
  if (f.memoryReservation !== undefined) {
    memory["reservation"] = parseBytes(f.memoryReservation, "--memory-reservation");
  }
  if (Object.keys(memory).length > 0) out["memory"] = memory;
  const cpu = obj("cpu");
  if (f.cpuShares !== undefined) cpu["shares"] = int(f.cpuShares, "--cpu-shares");
  if (f.cpuPeriod !== undefined) cpu["period"] = int(f.cpuPeriod, "--cpu-period");
  if (f.cpuQuota !== undefined) cpu["quota"] = int(f.cpuQuota, "--cpu-quota");
  if (f.cpusetCpus !== undefined) cpu["cpus"] = f.cpusetCpus;
  if (f.cpusetMems !== undefined) cpu["mems"] = f.cpusetMems;
  if (Object.keys(cpu).length > 0) out["cpu"] = cpu;
  if (f.pidsLimit !== undefined) out["pids"] = { ...obj("pids"), limit: int(f.pidsLimit, "--pids-limit") };
  if (f.blkioWeight !== undefined) {
    out["blockIO"] = { ...obj("blockIO"), weight: int(f.blkioWeight, "--blkio-weight") };
  }
  return out;
}
