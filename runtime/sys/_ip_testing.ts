/**
 * Test helpers for the network plugins' real tests: a pod netns and a peer netns joined by a veth
 * pair, as a CNI bridge/ptp plugin would leave them, torn down on dispose; frame builders and
 * matchers for proving that traffic crosses a tap. Used only by `*_test.ts` files.
 *
 * @module
 */
import { type NetSys, runOnHost } from "./ip_command.ts";

export interface TestNetns extends AsyncDisposable {
  /** Path of the pod netns (`/var/run/netns/<name>`), where the plugin attaches. */
  readonly pod: string;
  readonly podName: string;
  /** Path of the peer netns holding the other end of the veth. */
  readonly peer: string;
  readonly peerName: string;
  /** Interface in the pod netns, its address and the peer's. */
  readonly podIf: string;
  readonly podIp: string;
  readonly peerIf: string;
  readonly peerIp: string;
  readonly prefix: number;
}

let seq = 0;

/**
 * Creates `cct-<random>-<n>-pod` and `-peer` netns joined by a veth (`eth0` in the pod with
 * 10.<a>.<b>.2/24, a default route via .1, a static neighbour .7, and an IPv6 address; `p0` in the
 * peer with .1/24). IPv6 is off on the peer side so that it sends nothing on its own.
 */
export async function createTestNetns(sys: NetSys, opts: { mtu?: number } = {}): Promise<TestNetns> {
  const n = ++seq;
  // Unique across the workers of `deno test --parallel`, which share one pid.
  const base = `cct-${crypto.randomUUID().slice(0, 8)}-${n}`;
  const podName = `${base}-pod`;
  const peerName = `${base}-peer`;
  const a = 100 + (Deno.pid % 100);
  const b = (n * 7 + Math.floor(Math.random() * 200)) % 250;
  const podIp = `10.${a}.${b}.2`;
  const peerIp = `10.${a}.${b}.1`;
  const ip = (args: string[]) => runOnHost(sys, "ip", args, { what: "Cannot set up the test netns" });
  const created: string[] = [];
  const dispose = async () => {
    for (const ns of created.reverse()) await ip(["netns", "del", ns]).catch(() => {});
  };
  try {
    await ip(["netns", "add", podName]);
    created.push(podName);
    await ip(["netns", "add", peerName]);
    created.push(peerName);
    await ip([
      "-n",
      podName,
      "link",
      "add",
      "eth0",
      "mtu",
      String(opts.mtu ?? 1500),
      "type",
      "veth",
      "peer",
      "name",
      "p0",
      "netns",
      peerName,
    ]);
    await ip(["netns", "exec", peerName, "sysctl", "-q", "-w", "net.ipv6.conf.p0.disable_ipv6=1"]);
    await ip(["-n", peerName, "link", "set", "p0", "mtu", String(opts.mtu ?? 1500)]);
    await ip(["-n", podName, "addr", "add", `${podIp}/24`, "dev", "eth0"]);
    await ip(["-n", podName, "addr", "add", `fd00:${a}:${b}::2/64`, "dev", "eth0", "nodad"]);
    await ip(["-n", peerName, "addr", "add", `${peerIp}/24`, "dev", "p0"]);
    for (
      const [ns, dev] of [[podName, "eth0"], [podName, "lo"], [peerName, "p0"], [peerName, "lo"]] as const
    ) {
      await ip(["-n", ns, "link", "set", dev, "up"]);
    }
    await ip(["-n", podName, "route", "add", "default", "via", peerIp]);
    await ip(["-n", podName, "neigh", "add", `10.${a}.${b}.7`, "lladdr", "02:00:00:00:00:07", "dev", "eth0"]);
  } catch (e) {
    await dispose();
    throw e;
  }
  return {
    pod: `/var/run/netns/${podName}`,
    podName,
    peer: `/var/run/netns/${peerName}`,
    peerName,
    podIf: "eth0",
    podIp,
    peerIf: "p0",
    peerIp,
    prefix: 24,
    [Symbol.asyncDispose]: dispose,
  };
}

/** A stable picture of a netns (links, addresses, qdiscs, filters) to compare before/after. */
export async function netnsPicture(sys: NetSys, netns: string): Promise<string> {
  const run = (cmd: string, args: string[]) =>
    runOnHost(sys, "nsenter", [`--net=${netns}`, "--", cmd, ...args], { what: "Cannot read the test netns" });
  const parsed: unknown = JSON.parse(await run("ip", ["-d", "-json", "link", "show"]));
  const links: unknown[] = Array.isArray(parsed) ? parsed : [];
  const lines: string[] = [];
  for (const l of links) {
    if (typeof l !== "object" || l === null) continue;
    const get = (k: string): unknown => Reflect.get(l, k);
    const name = String(get("ifname"));
    const info = get("linkinfo");
    const kind = typeof info === "object" && info !== null ? String(Reflect.get(info, "info_kind")) : "";
    lines.push(
      `link ${name} ${kind} ${String(get("address"))} mtu ${String(get("mtu"))} master ${
        String(get("master"))
      }`,
    );
    lines.push(`qdisc ${name} ${(await run("tc", ["qdisc", "show", "dev", name])).trim()}`);
    lines.push(`filter ${name} ${(await run("tc", ["filter", "show", "dev", name, "ingress"])).trim()}`);
  }
  lines.push(`addr ${(await run("ip", ["-brief", "addr", "show"])).trim()}`);
  lines.push(`route ${(await run("ip", ["route", "show"])).trim()}`);
  return lines.join("\n");
}

/** Parses "aa:bb:..." into 6 bytes. */
export function macBytes(mac: string): Uint8Array {
  return new Uint8Array(mac.split(":").map((h) => parseInt(h, 16)));
}

/** Parses a dotted IPv4 address into 4 bytes. */
export function ipv4Bytes(ip: string): Uint8Array {
  return new Uint8Array(ip.split(".").map((d) => parseInt(d, 10)));
}

/** An Ethernet ARP reply frame: `senderMac` owns `senderIp`, sent to `targetMac`/`targetIp`. */
export function arpReplyFrame(
  p: { senderMac: string; senderIp: string; targetMac: string; targetIp: string },
): Uint8Array {
  const f = new Uint8Array(42);
  f.set(macBytes(p.targetMac), 0);
  f.set(macBytes(p.senderMac), 6);
  f.set([0x08, 0x06, 0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x02], 12);
  f.set(macBytes(p.senderMac), 22);
  f.set(ipv4Bytes(p.senderIp), 28);
  f.set(macBytes(p.targetMac), 32);
  f.set(ipv4Bytes(p.targetIp), 38);
  return f;
}

/** Offset of `needle` in `hay`, or -1. */
export function indexOfBytes(hay: Uint8Array, needle: Uint8Array, from = 0): number {
  outer: for (let i = from; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

/**
 * Finds an ARP request for `targetIp` in a byte stream of frames; returns the requester's MAC.
 * Matches the ARP body (`htype 1, ptype 0x0800, 6, 4, op 1`) followed by sender/target fields.
 */
export function findArpRequest(stream: Uint8Array, targetIp: string): string | undefined {
  const head = new Uint8Array([0x08, 0x06, 0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01]);
  const tip = ipv4Bytes(targetIp);
  for (let i = indexOfBytes(stream, head); i >= 0; i = indexOfBytes(stream, head, i + 1)) {
    const body = i + head.length;
    if (body + 20 > stream.length) break;
    if (indexOfBytes(stream.subarray(body + 16, body + 20), tip) === 0) {
      return [...stream.subarray(body, body + 6)].map((b) => b.toString(16).padStart(2, "0")).join(":");
    }
  }
  return undefined;
}

/** True when `stream` holds an IPv4 ICMP echo request from `src` to `dst` sent to `dstMac`. */
export function hasIcmpEchoTo(stream: Uint8Array, p: { dstMac: string; src: string; dst: string }): boolean {
  const mac = macBytes(p.dstMac);
  for (let i = indexOfBytes(stream, mac); i >= 0; i = indexOfBytes(stream, mac, i + 1)) {
    const ip = i + 14;
    if (ip + 21 > stream.length) break;
    const isIcmp = stream[i + 12] === 0x08 && stream[i + 13] === 0x00 && stream[ip + 9] === 1;
    if (
      isIcmp && indexOfBytes(stream.subarray(ip + 12, ip + 16), ipv4Bytes(p.src)) === 0 &&
      indexOfBytes(stream.subarray(ip + 16, ip + 20), ipv4Bytes(p.dst)) === 0 && stream[ip + 20] === 8
    ) return true;
  }
  return false;
}

/** A process that holds a tap (or macvtap) open: what it reads is collected, what is written is sent. */
export interface FrameTap extends AsyncDisposable {
  /** Everything read from the device so far. */
  bytes(): Uint8Array;
  /** Writes one frame to the device (the guest side of the NIC). */
  write(frame: Uint8Array): Promise<void>;
  /** Resolves when `pred(bytes())` holds; rejects after `timeoutMs`. */
  waitFor<T>(pred: (b: Uint8Array) => T | undefined | false, timeoutMs: number): Promise<T>;
}

/**
 * Opens a device with socat inside `netns` in place of a VM: `socatAddress` is e.g.
 * `TUN,tun-name=tap0_cocoon,tun-type=tap,iff-no-pi,iff-up` or `OPEN:/path/to/macvtap-node`.
 */
export async function openFrameTap(netns: string, socatAddress: string): Promise<FrameTap> {
  const child = new Deno.Command("nsenter", {
    args: [`--net=${netns}`, "--", "socat", "-d", "-d", "-b", "65536", socatAddress, "STDIO"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // socat says "starting data transfer loop" once the device is open: only then is nothing missed.
  const ready = Promise.withResolvers<void>();
  const logs = (async () => {
    const dec = new TextDecoder();
    let text = "";
    for await (const chunk of child.stderr) {
      text += dec.decode(chunk);
      if (text.includes("starting data transfer loop")) ready.resolve();
    }
    ready.reject(new Error(`socat exited before opening ${socatAddress}: ${text.slice(-300)}`));
  })();
  const timer = setTimeout(() => ready.reject(new Error(`socat did not open ${socatAddress} in 5 s`)), 5000);
  try {
    await ready.promise;
  } catch (e) {
    try {
      child.kill("SIGTERM");
    } catch { /* gone */ }
    await child.status;
    throw e;
  } finally {
    clearTimeout(timer);
  }
  let buf = new Uint8Array(0);
  const reading = (async () => {
    for await (const chunk of child.stdout) {
      const next = new Uint8Array(buf.length + chunk.length);
      next.set(buf);
      next.set(chunk, buf.length);
      buf = next;
    }
  })();
  const writer = child.stdin.getWriter();
  return {
    bytes: () => buf,
    write: (frame) => writer.write(frame),
    async waitFor(pred, timeoutMs) {
      const end = Date.now() + timeoutMs;
      for (;;) {
        const r = pred(buf);
        if (r !== undefined && r !== false) return r;
        if (Date.now() > end) {
          throw new Error(`no matching frame within ${timeoutMs} ms (${buf.length} bytes read)`);
        }
        await new Promise((res) => setTimeout(res, 50));
      }
    },
    async [Symbol.asyncDispose]() {
      await writer.close().catch(() => {});
      try {
        child.kill("SIGTERM");
      } catch { /* already gone */ }
      await child.status;
      await reading.catch(() => {});
      await logs.catch(() => {});
    },
  };
}

/**
 * Proves that frames cross between the peer netns and a device held by `dev` (in place of the VM
 * NIC with MAC `mac`): the peer pings the pod address; its ARP request must be read from the
 * device; an ARP reply written to the device must reach the peer, which then sends an ICMP echo
 * request to `mac` that must be read from the device too. `header` is prepended to the written
 * frame (10 zero bytes of virtio-net header for a macvtap). Throws when a step does not happen.
 */
export async function proveTraffic(
  sys: NetSys,
  ns: TestNetns,
  dev: FrameTap,
  p: { mac: string; header?: Uint8Array; timeoutMs?: number },
): Promise<void> {
  const timeout = p.timeoutMs ?? 8000;
  const ping = new Deno.Command("nsenter", {
    args: [`--net=${ns.peer}`, "--", "busybox", "ping", "-c", "4", "-W", "1", ns.podIp],
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    const peerMac = await dev.waitFor((b) => findArpRequest(b, ns.podIp), timeout);
    const reply = arpReplyFrame({
      senderMac: p.mac,
      senderIp: ns.podIp,
      targetMac: peerMac,
      targetIp: ns.peerIp,
    });
    const head = p.header ?? new Uint8Array(0);
    const frame = new Uint8Array(head.length + reply.length);
    frame.set(head);
    frame.set(reply, head.length);
    await dev.write(frame);
    await dev.waitFor((b) => hasIcmpEchoTo(b, { dstMac: p.mac, src: ns.peerIp, dst: ns.podIp }), timeout);
    const neigh = await runOnHost(sys, "nsenter", [
      `--net=${ns.peer}`,
      "--",
      "ip",
      "-json",
      "neigh",
      "show",
      ns.podIp,
    ], {
      what: "Cannot read the peer's neighbours",
    });
    if (!neigh.includes(p.mac)) throw new Error(`the peer did not learn ${p.mac} for ${ns.podIp}: ${neigh}`);
  } finally {
    try {
      ping.kill("SIGTERM");
    } catch { /* already exited */ }
    await ping.status;
  }
}
