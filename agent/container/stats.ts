/**
 * StatsContainer: cgroup counters of the container's init process, read straight from cgroupfs.
 * Works on pure cgroup v2 (the guest), v1, and hybrid hosts (v2 at `<root>/unified`): each group
 * (cpu, memory, pids) is read from v2 when the v2 files exist, else from its v1 controller.
 *
 * @module
 */
import { RuntimeError } from "../../runtime/errors.ts";
import type { AgentFs, ContainerEnv } from "./env.ts";
import type { ContainerTable } from "./state.ts";

export interface CpuStats {
  readonly usageNs: number;
  readonly userNs: number;
  readonly systemNs: number;
}
export interface MemoryStats {
  readonly usage: number;
  /** 0 means no limit. */
  readonly limit: number;
  readonly maxUsage: number;
  readonly failcnt: number;
  /** Processes of the cgroup killed by the OOM killer (v2 memory.events / v1 memory.oom_control). */
  readonly oomKills: number;
  readonly stat: Readonly<Record<string, number>>;
}
export interface PidsStats {
  readonly current: number;
  /** 0 means no limit. */
  readonly limit: number;
}
export interface ContainerStats {
  readonly cpu?: CpuStats;
  readonly memory?: MemoryStats;
  readonly pids?: PidsStats;
}

export async function containerStats(
  env: ContainerEnv,
  table: ContainerTable,
  id: string,
): Promise<ContainerStats> {
  const c = table.get(id);
  if (c.init.exitStatus) {
    throw new RuntimeError("FailedPrecondition", `Cannot read stats of container "${id}": it is stopped`);
  }
  let text: string;
  try {
    text = await env.fs.readTextFile(`/proc/${c.init.pid}/cgroup`);
  } catch (e) {
    throw new RuntimeError("NotFound", `Cannot read stats of container "${id}": pid ${c.init.pid} is gone`, {
      cause: e,
    });
  }
  return await readStats(env.fs, env.cgroupRoot, parseProcCgroup(text));
}

/** controller (or "" for v2) → path, from /proc/<pid>/cgroup. Pure. */
export function parseProcCgroup(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split("\n")) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line.trim());
    if (!m) continue;
    const [, , ctrls = "", path = "/"] = m;
    if (ctrls === "") out.set("", path);
    for (const c of ctrls.split(",")) if (c !== "") out.set(c, path);
  }
  return out;
}

export async function readStats(
  fs: AgentFs,
  root: string,
  paths: Map<string, string>,
): Promise<ContainerStats> {
  const read = async (p: string): Promise<string | undefined> => {
    try {
      return await fs.readTextFile(p);
    } catch {
      return undefined;
    }
  };
  const v2Path = paths.get("");
  let v2: string | undefined;
  if (v2Path !== undefined) {
    if ((await read(`${root}/cgroup.controllers`)) !== undefined) v2 = `${root}${v2Path}`;
    else if ((await read(`${root}/unified/cgroup.controllers`)) !== undefined) {
      v2 = `${root}/unified${v2Path}`;
    }
  }
  const v1 = (ctrl: string): string | undefined => {
    const p = paths.get(ctrl);
    return p === undefined ? undefined : `${root}/${ctrl}${p}`;
  };
  let cpu: CpuStats | undefined;
  const cpuStat = v2 ? await read(`${v2}/cpu.stat`) : undefined;
  if (cpuStat !== undefined) {
    const kv = parseKeyValues(cpuStat);
    cpu = {
      usageNs: (kv["usage_usec"] ?? 0) * 1000,
      userNs: (kv["user_usec"] ?? 0) * 1000,
      systemNs: (kv["system_usec"] ?? 0) * 1000,
    };
  } else {
    const dir = v1("cpuacct");
    const usage = dir ? await read(`${dir}/cpuacct.usage`) : undefined;
    if (dir && usage !== undefined) {
      const kv = parseKeyValues((await read(`${dir}/cpuacct.stat`)) ?? "");
      const tick = 1e9 / 100; // USER_HZ
      cpu = { usageNs: num(usage), userNs: (kv["user"] ?? 0) * tick, systemNs: (kv["system"] ?? 0) * tick };
    }
  }
  let memory: MemoryStats | undefined;
  const memCur = v2 ? await read(`${v2}/memory.current`) : undefined;
  if (v2 && memCur !== undefined) {
    const events = parseKeyValues((await read(`${v2}/memory.events`)) ?? "");
    memory = {
      usage: num(memCur),
      limit: num((await read(`${v2}/memory.max`)) ?? "max"),
      maxUsage: num((await read(`${v2}/memory.peak`)) ?? "0"),
      failcnt: events["max"] ?? 0,
      oomKills: events["oom_kill"] ?? 0,
      stat: parseKeyValues((await read(`${v2}/memory.stat`)) ?? ""),
    };
  } else {
    const dir = v1("memory");
    const usage = dir ? await read(`${dir}/memory.usage_in_bytes`) : undefined;
    if (dir && usage !== undefined) {
      const limit = num((await read(`${dir}/memory.limit_in_bytes`)) ?? "0");
      memory = {
        usage: num(usage),
        limit: limit >= 0x7ffffffffffff000 ? 0 : limit,
        maxUsage: num((await read(`${dir}/memory.max_usage_in_bytes`)) ?? "0"),
        failcnt: num((await read(`${dir}/memory.failcnt`)) ?? "0"),
        oomKills: parseKeyValues((await read(`${dir}/memory.oom_control`)) ?? "")["oom_kill"] ?? 0,
        stat: parseKeyValues((await read(`${dir}/memory.stat`)) ?? ""),
      };
    }
  }
  let pids: PidsStats | undefined;
  const pidsDir = v2 && (await read(`${v2}/pids.current`)) !== undefined ? v2 : v1("pids");
  const pidsCur = pidsDir ? await read(`${pidsDir}/pids.current`) : undefined;
  if (pidsDir && pidsCur !== undefined) {
    pids = { current: num(pidsCur), limit: num((await read(`${pidsDir}/pids.max`)) ?? "max") };
  }
  return { ...(cpu ? { cpu } : {}), ...(memory ? { memory } : {}), ...(pids ? { pids } : {}) };
}

/** "key value" lines → numbers. Pure. */
export function parseKeyValues(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split("\n")) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined && /^\d+$/.test(v)) out[k] = Number(v);
  }
  return out;
}

/** A cgroup number; "max" (no limit) is 0. */
function num(s: string): number {
  const t = s.trim();
  if (t === "max" || !/^\d+$/.test(t)) return 0;
  return Number(t);
}
