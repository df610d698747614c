/**
 * Sizing a VM from an OCI container's `linux.resources`, as Kata does: the VM gets its configured
 * size plus what the container may use (memory limit, CPU quota or cpuset), so that a limit larger
 * than the default VM is honoured instead of failing in the guest. The host's CPU numbers of a
 * cpuset mean nothing in the VM: the guest spec drops them (guest_spec), and the count sizes the VM.
 *
 * @module
 */
import type { ResolvedConfig } from "../config/schema.ts";
import { SandboxError } from "../errors.ts";

export interface PodSize {
  readonly extraMemoryMiB: number;
  readonly extraVcpus: number;
}

export const NO_EXTRA: PodSize = { extraMemoryMiB: 0, extraVcpus: 0 };

function rec(x: unknown): Record<string, unknown> | undefined {
  return typeof x === "object" && x !== null && !Array.isArray(x) ? x as Record<string, unknown> : undefined;
}

/** Number of CPUs in a cpuset list ("0-3,6"); 0 when empty or malformed. Pure. */
export function cpusetCount(list: string): number {
  let n = 0;
  for (const part of list.split(",").map((p) => p.trim()).filter((p) => p !== "")) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (m === null) return 0;
    const lo = Number(m[1]);
    const hi = m[2] !== undefined ? Number(m[2]) : lo;
    if (hi < lo) return 0;
    n += hi - lo + 1;
  }
  return n;
}

/** What `linux.resources` adds to the VM. Pure. */
export function sizeOfResources(resources: unknown): PodSize {
  const r = rec(resources);
  if (r === undefined) return NO_EXTRA;
  const limit = rec(r["memory"])?.["limit"];
  const extraMemoryMiB = typeof limit === "number" && limit > 0 ? Math.ceil(limit / (1024 * 1024)) : 0;
  const cpu = rec(r["cpu"]);
  const quota = cpu?.["quota"];
  const period = cpu?.["period"];
  let extraVcpus = 0;
  if (typeof quota === "number" && quota > 0) {
    extraVcpus = Math.ceil(quota / (typeof period === "number" && period > 0 ? period : 100_000));
  } else if (typeof cpu?.["cpus"] === "string") {
    extraVcpus = cpusetCount(cpu["cpus"]);
  }
  return { extraMemoryMiB, extraVcpus };
}

/**
 * `cfg` with the VM's size grown by `size`, within `default_maxmemory` / `default_maxvcpus` (the
 * host's memory and CPU count when those are 0); never below the configured size. Pure.
 */
export function sizedConfig(
  cfg: ResolvedConfig,
  size: PodSize,
  host: { readonly hostMemoryMiB?: number; readonly hostCpus?: number } = {},
): ResolvedConfig {
  if (size.extraMemoryMiB === 0 && size.extraVcpus === 0) return cfg;
  const h = cfg.hypervisor;
  const cap = (v: number, max: number, hostMax: number | undefined) => {
    const m = max > 0 ? max : hostMax;
    return m !== undefined && m > 0 ? Math.min(v, m) : v;
  };
  return {
    ...cfg,
    hypervisor: {
      ...h,
      defaultMemory: Math.max(
        h.defaultMemory,
        cap(h.defaultMemory + size.extraMemoryMiB, h.defaultMaxMemory, host.hostMemoryMiB),
      ),
      defaultVcpus: Math.max(
        h.defaultVcpus,
        cap(h.defaultVcpus + size.extraVcpus, h.defaultMaxVcpus, host.hostCpus),
      ),
    },
  };
}

/**
 * Refuses a VM size above the maxima: `default_maxmemory` / `default_maxvcpus` when set, else the
 * host's memory and CPU count. A pod's annotation (`default_memory`, `default_vcpus`) cannot go
 * past them; a pod's `linux.resources` is capped by {@link sizedConfig} instead. Pure.
 *
 * @throws {SandboxError} `InvalidArgument` naming the value and the maximum.
 */
export function checkVmSize(
  cfg: ResolvedConfig,
  host: { readonly hostMemoryMiB?: number; readonly hostCpus?: number },
): void {
  const h = cfg.hypervisor;
  const maxMem = h.defaultMaxMemory > 0 ? h.defaultMaxMemory : host.hostMemoryMiB;
  const maxCpus = h.defaultMaxVcpus > 0 ? h.defaultMaxVcpus : host.hostCpus;
  const over = (what: string, v: number, max: number, key: string) =>
    new SandboxError(
      "InvalidArgument",
      `Cannot size the VM: ${what} ${v} is more than the maximum ${max} (${key}): ask for less, or raise the maximum in the configuration`,
    );
  if (maxMem !== undefined && h.defaultMemory > maxMem) {
    throw over(
      "memory (MiB)",
      h.defaultMemory,
      maxMem,
      h.defaultMaxMemory > 0 ? "default_maxmemory" : "host memory",
    );
  }
  if (maxCpus !== undefined && h.defaultVcpus > maxCpus) {
    throw over("vCPUs", h.defaultVcpus, maxCpus, h.defaultMaxVcpus > 0 ? "default_maxvcpus" : "host CPUs");
  }
}
