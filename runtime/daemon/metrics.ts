/**
 * `ctr task metrics` wants an `io.containerd.cgroups.v2.Metrics` Any. Its schema is not among the
 * generated ones, so the few fields filled here are encoded by hand: pids (1: current 1, limit 2),
 * cpu (2: usage_usec 1, user_usec 2, system_usec 3) and memory (4: usage 32, usage_limit 33,
 * max_usage 36) as in containerd/cgroups' cgroup2/stats/metrics.proto. An unlimited container's
 * usage_limit is 2^64-1, as runc's shim reports "max". The agent's stats carry no anon/file split.
 *
 * @module
 */
import type { ContainerStats } from "../agent_client/types.ts";

export const CGROUPS_V2_METRICS_TYPE = "io.containerd.cgroups.v2.Metrics";

function varint(n: bigint, out: number[]): void {
  let v = BigInt.asUintN(64, n);
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
}

function field(num: number, value: bigint, out: number[]): void {
  if (value === 0n) return;
  varint(BigInt(num << 3), out);
  varint(value, out);
}

function message(num: number, body: number[], out: number[]): void {
  if (body.length === 0) return;
  varint(BigInt((num << 3) | 2), out);
  varint(BigInt(body.length), out);
  out.push(...body);
}

const UNLIMITED = 0xffff_ffff_ffff_ffffn;

/**
 * The protobuf bytes of a cgroups v2 `Metrics` (io.containerd.cgroups.v2) with pids, cpu, memory
 * (usage, usage_limit, max_usage, file) and memory_events (oom_kill). Pure.
 */
export function encodeCgroupsV2Metrics(s: ContainerStats): Uint8Array {
  const out: number[] = [];
  if (s.pids) {
    const b: number[] = [];
    field(1, s.pids.current, b);
    field(2, s.pids.limit, b);
    message(1, b, out);
  }
  if (s.cpu) {
    const b: number[] = [];
    field(1, s.cpu.usageNs / 1000n, b);
    field(2, s.cpu.userNs / 1000n, b);
    field(3, s.cpu.systemNs / 1000n, b);
    message(2, b, out);
  }
  if (s.memory) {
    const b: number[] = [];
    field(2, s.memory.cacheBytes, b); // file
    field(32, s.memory.usageBytes, b);
    field(33, s.memory.limitBytes === 0n ? UNLIMITED : s.memory.limitBytes, b);
    field(36, s.memory.maxUsageBytes, b);
    message(4, b, out);
    const events: number[] = [];
    field(5, s.memory.oomKills, events); // MemoryEvents.oom_kill
    message(8, events, out);
  }
  return Uint8Array.from(out);
}
