/**
 * End to end per network model: a pod netns and a peer netns joined by a veth (as a CNI bridge/ptp
 * plugin leaves them), the model attached, a real QEMU (TCG) guest started inside the pod netns with
 * the device the plugin returned, configured from the endpoint data the plugin returned (same MAC,
 * address, MTU, default route), serving HTTP with busybox httpd. The page is fetched from the peer
 * netns, the peer pings the guest and the guest pings the peer; then QEMU is killed (-9), the model
 * detached, and the pod netns must be exactly as before.
 *
 * How QEMU gets the NIC (what the sandbox core must do):
 * - tcfilter, bridge: QEMU runs inside the pod netns (`nsenter --net=<netns> -- qemu-system-x86_64
 *   ...`) and opens the persistent tap by name: `-netdev tap,ifname=tap<ifindex>_cocoon,script=no,
 *   downscript=no,vhost=off`.
 * - macvtap: QEMU gets the macvtap character device as an inherited fd: the node the plugin made is
 *   opened read-write on fd 3 by the spawning shell and `-netdev tap,fd=3,vhost=off` is used.
 */
import assert from "node:assert/strict";
import { createLogger, nullSink } from "../../runtime/log/logger.ts";
import { sandboxId } from "../../runtime/ids.ts";
import { hostNetSys, type NetSys } from "../../runtime/sys/ip_command.ts";
import { createTestNetns, netnsPicture } from "../../runtime/sys/_ip_testing.ts";
import type { NetworkAttachment, NetworkBackend } from "../../plugins/types.ts";
import { TcFilterNetwork } from "../../plugins/network/tcfilter/tcfilter.ts";
import { BridgeNetwork } from "../../plugins/network/bridge/bridge.ts";
import { MacvtapNetwork, probeMacvtap } from "../../plugins/network/macvtap/macvtap.ts";
import { ensureNetTestGuest, NET_PING_OK, NET_READY, PAGE_MARKER } from "./network_guest.ts";
import { inNetns, startGuestVm, waitForLine } from "./network_vm.ts";

const sys: NetSys = hostNetSys();
const log = createLogger({ sink: nullSink });

const PERMISSIONS: Deno.PermissionOptionsObject = {
  run: [
    "nsenter",
    "ip",
    "tc",
    "sysctl",
    "unshare",
    "mknod",
    "mkdir",
    "rm",
    "cat",
    "apt-get",
    "apt-cache",
    "dpkg-deb",
    "sh",
    "cpio",
    "gzip",
  ],
  read: true,
  write: ["/tmp", new URL("../../.cache", import.meta.url).pathname],
  env: true,
};

async function vmRoundTrip(model: "tcfilter" | "bridge" | "macvtap", net: NetworkBackend): Promise<void> {
  const guest = await ensureNetTestGuest();
  await using ns = await createTestNetns(sys);
  const before = await netnsPicture(sys, ns.pod);
  const dir = await Deno.makeTempDir({ prefix: `cocoon-netvm-${model}-` });
  let att: NetworkAttachment | undefined;
  try {
    att = await net.attach(ns.pod, { sandbox: sandboxId(`sb-${model}`) });
    const ep = att.endpoints[0];
    const dev = att.devices[0];
    assert.ok(ep !== undefined && dev?.kind === "net");
    const cidr = ep.addresses.find((a) => a.includes("."));
    const routes: unknown = Reflect.get(ep, "routes");
    const gw = Array.isArray(routes)
      ? routes.map((r: unknown) => (typeof r === "object" && r !== null ? Reflect.get(r, "gateway") : ""))
        .find((g) => typeof g === "string" && g.includes("."))
      : undefined;
    assert.equal(cidr, `${ns.podIp}/24`);
    assert.equal(gw, ns.peerIp);
    const mvt: unknown = Reflect.get(ep, "macvtap");
    const node: unknown = typeof mvt === "object" && mvt !== null
      ? Reflect.get(mvt, "charDevice")
      : undefined;
    const t0 = performance.now();
    await using vm = startGuestVm({
      netns: ns.pod,
      dir,
      guest,
      nic: dev,
      cmdline: `cocoon.net=${dev.mac},${cidr},${gw},${dev.mtu}`,
      ...(typeof node === "string" ? { charDevice: node } : {}),
    });
    const consoleLog = vm.consoleLog;
    const ready = await waitForLine(consoleLog, NET_READY, 180_000);
    const bootMs = Math.round(performance.now() - t0);
    assert.ok(ready.includes(`${ns.podIp}/24`), ready);

    const page = await inNetns(ns.peer, ["busybox", "wget", "-q", "-O", "-", `http://${ns.podIp}/`]);
    assert.ok(
      page.ok && page.out.includes(`${PAGE_MARKER} ${dev.mac}`),
      `wget: ${page.out}\nconsole:\n${(await Deno.readTextFile(consoleLog)).slice(-1500)}`,
    );
    const ping = await inNetns(ns.peer, ["busybox", "ping", "-c", "5", "-W", "3", ns.podIp]);
    assert.ok(ping.ok && / 0% packet loss/.test(ping.out), ping.out);
    await waitForLine(consoleLog, NET_PING_OK, 30_000);
    const rtt = /min\/avg\/max = ([\d.\/]+)/.exec(ping.out)?.[1] ?? "?";
    // deno-lint-ignore no-console -- timings for the report
    console.log(
      `network e2e ${model}: boot->ready ${bootMs} ms, peer->guest ping rtt min/avg/max ${rtt} ms (TCG)`,
    );
  } finally {
    if (att !== undefined) await net.detach(ns.pod, att);
    await Deno.remove(dir, { recursive: true });
  }
  assert.equal(await netnsPicture(sys, ns.pod), before, "the pod netns is back as the CNI left it");
}

Deno.test({
  name: "tcfilter: a QEMU guest in the pod netns serves HTTP to the peer and pings work both ways",
  permissions: PERMISSIONS,
  fn: () => vmRoundTrip("tcfilter", new TcFilterNetwork(sys, log)),
});

Deno.test({
  name: "bridge: a QEMU guest in the pod netns serves HTTP to the peer and pings work both ways",
  permissions: PERMISSIONS,
  fn: () => vmRoundTrip("bridge", new BridgeNetwork(sys, log)),
});

Deno.test({
  name: "macvtap: a QEMU guest on the macvtap fd serves HTTP to the peer and pings work both ways",
  permissions: PERMISSIONS,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "cocoon-mvt-nodes-" });
    try {
      const net = new MacvtapNetwork(sys, log, { nodeDir: dir });
      const s = await probeMacvtap(sys);
      if (!s.builtIn && s.modulesDisabled) {
        await assert.rejects(net.check(), /the kernel has no macvtap driver/);
        return;
      }
      await vmRoundTrip("macvtap", net);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
