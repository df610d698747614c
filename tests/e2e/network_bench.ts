/**
 * Network benchmark: round-trip latency (ping) and TCP throughput (16 MiB each way) from the peer
 * netns to a QEMU guest for each network model, against the same measurements to a process running
 * directly in the pod netns on the same veth setup (the path a runc container in that netns has).
 * Run: `deno run --allow-all tests/e2e/network_bench.ts` (root); prints one JSON line per target.
 * Under TCG (this host) the guest numbers measure emulation as much as the network model.
 *
 * @module
 */
import { createLogger, nullSink } from "../../runtime/log/logger.ts";
import { sandboxId } from "../../runtime/ids.ts";
import { hostNetSys } from "../../runtime/sys/ip_command.ts";
import { createTestNetns, type TestNetns } from "../../runtime/sys/_ip_testing.ts";
import type { NetworkBackend } from "../../plugins/types.ts";
import { TcFilterNetwork } from "../../plugins/network/tcfilter/tcfilter.ts";
import { BridgeNetwork } from "../../plugins/network/bridge/bridge.ts";
import { MacvtapNetwork } from "../../plugins/network/macvtap/macvtap.ts";
import { ensureNetTestGuest, NET_READY } from "./network_guest.ts";
import { inNetns, startGuestVm, waitForLine } from "./network_vm.ts";

const sys = hostNetSys();
const log = createLogger({ sink: nullSink });
const MIB = 16;

export interface NetBenchResult {
  readonly target: string;
  readonly rttAvgMs: number;
  /** peer -> target, MiB/s */
  readonly uploadMiBps: number;
  /** target -> peer (HTTP download of 16 MiB), MiB/s */
  readonly downloadMiBps: number;
}

async function timed(netns: string, args: string[]): Promise<number> {
  const t0 = performance.now();
  const r = await inNetns(netns, args);
  if (!r.ok) throw new Error(`${args.join(" ")} failed: ${r.out.slice(-300)}`);
  return (performance.now() - t0) / 1000;
}

async function measure(target: string, ns: TestNetns): Promise<NetBenchResult> {
  const ping = await inNetns(ns.peer, ["busybox", "ping", "-c", "20", "-i", "0.2", "-W", "3", ns.podIp]);
  const avg = Number(/min\/avg\/max = [\d.]+\/([\d.]+)\//.exec(ping.out)?.[1] ?? NaN);
  const up = await timed(ns.peer, [
    "sh",
    "-c",
    `head -c ${MIB}M /dev/zero | socat -u - TCP:${ns.podIp}:5001`,
  ]);
  const down = await timed(ns.peer, ["busybox", "wget", "-q", "-O", "/dev/null", `http://${ns.podIp}/big`]);
  return {
    target,
    rttAvgMs: avg,
    uploadMiBps: +(MIB / up).toFixed(1),
    downloadMiBps: +(MIB / down).toFixed(1),
  };
}

/** Baseline: busybox httpd and a TCP sink as processes in the pod netns itself. */
async function baseline(): Promise<NetBenchResult> {
  await using ns = await createTestNetns(sys);
  const www = await Deno.makeTempDir({ prefix: "cocoon-netbench-" });
  await Deno.writeFile(`${www}/big`, new Uint8Array(MIB * 1024 * 1024));
  const httpd = new Deno.Command("nsenter", {
    args: [`--net=${ns.pod}`, "--", "busybox", "httpd", "-f", "-p", "80", "-h", www],
    stdout: "null",
    stderr: "null",
  }).spawn();
  const sink = new Deno.Command("nsenter", {
    args: [`--net=${ns.pod}`, "--", "socat", "-u", "TCP-LISTEN:5001,reuseaddr", "OPEN:/dev/null"],
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    await new Promise((r) => setTimeout(r, 300));
    return await measure("netns process (runc path)", ns);
  } finally {
    for (const c of [httpd, sink]) {
      try {
        c.kill("SIGKILL");
      } catch { /* exited */ }
      await c.status;
    }
    await Deno.remove(www, { recursive: true });
  }
}

async function guest(model: string, net: NetworkBackend): Promise<NetBenchResult> {
  const img = await ensureNetTestGuest();
  await using ns = await createTestNetns(sys);
  const dir = await Deno.makeTempDir({ prefix: `cocoon-netbench-${model}-` });
  const att = await net.attach(ns.pod, { sandbox: sandboxId(`bench-${model}`) });
  try {
    const nic = att.devices[0];
    if (nic?.kind !== "net") throw new Error(`${model}: no net device`);
    const mvt: unknown = Reflect.get(att.endpoints[0] ?? {}, "macvtap");
    const node: unknown = typeof mvt === "object" && mvt !== null
      ? Reflect.get(mvt, "charDevice")
      : undefined;
    await using vm = startGuestVm({
      netns: ns.pod,
      dir,
      guest: img,
      nic,
      cmdline: `cocoon.net=${nic.mac},${ns.podIp}/24,${ns.peerIp},${nic.mtu}`,
      ...(typeof node === "string" ? { charDevice: node } : {}),
    });
    await waitForLine(vm.consoleLog, NET_READY, 180_000);
    return await measure(`vm ${model} (TCG)`, ns);
  } finally {
    await net.detach(ns.pod, att);
    await Deno.remove(dir, { recursive: true });
  }
}

/** Runs every target in turn. */
export async function runNetworkBench(): Promise<NetBenchResult[]> {
  const nodes = await Deno.makeTempDir({ prefix: "cocoon-netbench-mvt-" });
  try {
    return [
      await baseline(),
      await guest("tcfilter", new TcFilterNetwork(sys, log)),
      await guest("bridge", new BridgeNetwork(sys, log)),
      await guest("macvtap", new MacvtapNetwork(sys, log, { nodeDir: nodes })),
    ];
  } finally {
    await Deno.remove(nodes, { recursive: true });
  }
}

if (import.meta.main) {
  // deno-lint-ignore no-console -- benchmark output
  for (const r of await runNetworkBench()) console.log(JSON.stringify(r));
}
