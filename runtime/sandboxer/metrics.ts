/**
 * Sandbox metrics for the Controller's Metrics call: the VMM process's resident memory and CPU time
 * (from /proc) and the number of containers, as a `google.protobuf.Struct` in `Metric.data`.
 *
 * @module
 */
import { fromJson } from "@bufbuild/protobuf";
import { anyPack, StructSchema, timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { MetricSchema } from "../protocol/gen/containerd/types/metrics_pb.ts";
import type { Sandbox } from "../sandbox/mod.ts";

/** Clock ticks per second of /proc/<pid>/stat on Linux. */
const CLK_TCK = 100;

/** `{ rssBytes, cpuSeconds }` of a process from /proc/<pid>/{status,stat}, or null when it is gone. */
export async function procUsage(pid: number): Promise<{ rssBytes: number; cpuSeconds: number } | null> {
  try {
    const status = await Deno.readTextFile(`/proc/${pid}/status`);
    const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
    return parseProcUsage(status, stat);
  } catch {
    return null;
  }
}

/** Parses VmRSS of /proc/<pid>/status and utime+stime of /proc/<pid>/stat. Pure. */
export function parseProcUsage(status: string, stat: string): { rssBytes: number; cpuSeconds: number } {
  const rss = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
  const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(rest[11] ?? "0") + Number(rest[12] ?? "0");
  return {
    rssBytes: rss ? Number(rss[1]) * 1024 : 0,
    cpuSeconds: Number.isFinite(ticks) ? ticks / CLK_TCK : 0,
  };
}

/** The `containerd.types.Metric` of a running sandbox. */
export async function sandboxMetric(id: string, sb: Sandbox): Promise<MessageInitShape<typeof MetricSchema>> {
  const pids = sb.pids();
  let rssBytes = 0;
  let cpuSeconds = 0;
  for (const pid of pids) {
    const u = await procUsage(pid);
    if (u === null) continue;
    rssBytes += u.rssBytes;
    cpuSeconds += u.cpuSeconds;
  }
  const containers = (await sb.containers()).length;
  const data = fromJson(StructSchema, {
    vmm_pids: pids.map((p) => p),
    vmm_rss_bytes: rssBytes,
    vmm_cpu_seconds: cpuSeconds,
    containers,
    state: sb.status().kind,
  });
  return { timestamp: timestampFromDate(new Date()), id, data: anyPack(StructSchema, data) };
}
