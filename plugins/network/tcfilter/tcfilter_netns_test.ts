/**
 * Real tests: a real netns pair made with `ip netns add` and a veth, the plugin run against it, the
 * result read back with `ip -json`/`tc -json`, and traffic proven to cross the tap in both
 * directions (socat holds the tap in place of QEMU). Needs root. Every command goes through
 * `nsenter`/`ip`, so the tests run with exactly the manifest's permissions.
 */
import assert from "node:assert/strict";
import { manifest } from "./manifest.ts";
import { FILTER_PREF, TcFilterNetwork } from "./tcfilter.ts";
import { createLogger, nullSink } from "../../../runtime/log/logger.ts";
import { sandboxId } from "../../../runtime/ids.ts";
import { hostNetSys, type NetSys, runInNetns } from "../../../runtime/sys/ip_command.ts";
import {
  createTestNetns,
  netnsPicture,
  openFrameTap,
  proveTraffic,
} from "../../../runtime/sys/_ip_testing.ts";

const sys = hostNetSys();
const log = createLogger({ sink: nullSink });
const sandbox = sandboxId("sb-net");

async function json(netns: string, cmd: string, args: string[]): Promise<unknown> {
  return JSON.parse(await runInNetns(sys, netns, cmd, args, { what: "test" }));
}

function rec(x: unknown): Record<string, unknown> {
  assert.ok(typeof x === "object" && x !== null && !Array.isArray(x));
  return Object.fromEntries(Object.entries(x));
}

Deno.test({
  name: "TcFilterNetwork.attach() joins veth and tap with tc redirects and traffic crosses both ways",
  permissions: manifest.permissions,
  async fn() {
    await using ns = await createTestNetns(sys);
    const before = await netnsPicture(sys, ns.pod);
    const net = new TcFilterNetwork(sys, log);
    const att = await net.attach(ns.pod, { sandbox });
    try {
      // Endpoint data for the guest agent.
      assert.equal(att.endpoints.length, 1);
      const ep = att.endpoints[0]!;
      const TAP = `tap${ep.ifindex}_cocoon`;
      assert.equal(ep.name, "eth0");
      assert.equal(ep.mtu, 1500);
      assert.ok(ep.addresses.includes(`${ns.podIp}/24`), String(ep.addresses));
      assert.ok(ep.addresses.some((a) => a.startsWith("fd00:")));
      assert.ok(ep.routes.some((r) => r.destination === "" && r.gateway === ns.peerIp));
      assert.equal(ep.neighbors.length, 1);
      assert.deepEqual(att.devices, [{
        kind: "net",
        id: `net${ep.ifindex}`,
        tap: TAP,
        mac: ep.mac,
        mtu: 1500,
      }]);

      // The tap exists, is up, has the veth's MTU; addresses stayed on eth0.
      const tap = rec((await json(ns.pod, "ip", ["-json", "link", "show", TAP]) as unknown[])[0]);
      assert.equal(tap["mtu"], 1500);
      assert.ok(Array.isArray(tap["flags"]) && tap["flags"].includes("UP"));
      assert.notEqual(tap["address"], ep.mac);
      const addr = rec((await json(ns.pod, "ip", ["-json", "addr", "show", "eth0"]) as unknown[])[0]);
      assert.ok(JSON.stringify(addr["addr_info"]).includes(ns.podIp));

      // Both redirects exist.
      for (const [from, to] of [["eth0", TAP], [TAP, "eth0"]]) {
        const filters = JSON.stringify(
          await json(ns.pod, "tc", ["-json", "filter", "show", "dev", from!, "ingress"]),
        );
        assert.ok(filters.includes(`"pref":${FILTER_PREF}`), filters);
        assert.ok(
          filters.includes(`"mirred_action":"redirect"`) && filters.includes(`"to_dev":"${to}"`),
          filters,
        );
      }

      // Traffic: the peer pings the pod address. Its ARP request must come out of the tap; our ARP
      // reply written into the tap must reach the peer, which then sends ICMP to the guest's MAC.
      {
        await using dev = await openFrameTap(
          ns.pod,
          `TUN,tun-name=${TAP},tun-type=tap,iff-no-pi,iff-up`,
        );
        await proveTraffic(sys, ns, dev, { mac: ep.mac });
      }
      const stats = rec(
        (await json(ns.pod, "ip", ["-s", "-json", "link", "show", TAP]) as unknown[])[0],
      );
      const s64 = rec(stats["stats64"]);
      assert.ok(Number(rec(s64["tx"])["packets"]) >= 2, JSON.stringify(s64));
      assert.ok(Number(rec(s64["rx"])["packets"]) >= 1, JSON.stringify(s64));
    } finally {
      await net.detach(ns.pod, att);
    }
    assert.equal(await netnsPicture(sys, ns.pod), before);
  },
});

Deno.test({
  name: "TcFilterNetwork.attach() rolls back everything when a step fails half way",
  permissions: manifest.permissions,
  async fn() {
    await using ns = await createTestNetns(sys);
    const before = await netnsPicture(sys, ns.pod);
    let filterAdds = 0;
    const failing: NetSys = {
      run(cmd, args, opts) {
        if (args.includes("filter") && args.includes("add") && ++filterAdds === 2) {
          return Promise.resolve({ code: 2, stdout: "", stderr: "injected failure" });
        }
        return sys.run(cmd, args, opts);
      },
    };
    const net = new TcFilterNetwork(failing, log);
    await assert.rejects(net.attach(ns.pod, { sandbox }), (e: unknown) => {
      assert.ok(
        e instanceof Error && /tc filter add dev tap\d+_cocoon .*injected failure/.test(e.message),
        String(e),
      );
      return true;
    });
    assert.equal(await netnsPicture(sys, ns.pod), before);
  },
});

Deno.test({
  name: "TcFilterNetwork.detach() cleans up from the netns alone and is idempotent",
  permissions: manifest.permissions,
  async fn() {
    await using ns = await createTestNetns(sys);
    const before = await netnsPicture(sys, ns.pod);
    const first = await new TcFilterNetwork(sys, log).attach(ns.pod, { sandbox });
    // A second attach (e.g. after a crash) starts from a clean state and gives the same result.
    const second = await new TcFilterNetwork(sys, log).attach(ns.pod, { sandbox });
    assert.deepEqual(second, first);
    // A fresh instance (the daemon restarted) detaches with nothing remembered.
    const fresh = new TcFilterNetwork(sys, log);
    await fresh.detach(ns.pod, { endpoints: [], devices: [] });
    assert.equal(await netnsPicture(sys, ns.pod), before);
    await fresh.detach(ns.pod, first);
    assert.equal(await netnsPicture(sys, ns.pod), before);
  },
});

Deno.test({
  name: "TcFilterNetwork.rescan() connects a veth added after attach and removes the tap of a deleted one",
  permissions: manifest.permissions,
  async fn() {
    await using ns = await createTestNetns(sys);
    const before = await netnsPicture(sys, ns.pod);
    const net = new TcFilterNetwork(sys, log);
    const first = await net.attach(ns.pod, { sandbox });
    const ip = (args: string[]) => runInNetns(sys, ns.pod, "ip", args, { what: "test" });
    try {
      // As Docker 26+ does: a second interface appears after the task was created.
      await ip(["link", "add", "eth1", "type", "veth", "peer", "name", "x1", "netns", ns.peerName]);
      await ip(["addr", "add", "192.168.77.2/24", "dev", "eth1"]);
      await ip(["link", "set", "eth1", "up"]);
      const grown = await net.rescan(ns.pod, first, { sandbox });
      assert.equal(grown.added.length, 1);
      const ep1 = grown.attachment.endpoints.find((e) => e.name === "eth1");
      assert.ok(ep1 !== undefined && ep1.addresses.includes("192.168.77.2/24"));
      const tap1 = `tap${ep1.ifindex}_cocoon`;
      assert.deepEqual(grown.added[0], {
        kind: "net",
        id: `net${ep1.ifindex}`,
        tap: tap1,
        mac: ep1.mac,
        mtu: 1500,
      });
      const f = JSON.stringify(
        await json(ns.pod, "tc", ["-json", "filter", "show", "dev", "eth1", "ingress"]),
      );
      assert.ok(f.includes(`"to_dev":"${tap1}"`), f);
      assert.deepEqual(grown.removed, []);
      await ip(["link", "del", "eth1"]);
      const shrunk = await net.rescan(ns.pod, grown.attachment, { sandbox });
      assert.deepEqual(shrunk.removed, grown.added);
      const links = JSON.stringify(await json(ns.pod, "ip", ["-json", "link", "show"]));
      assert.ok(!links.includes(tap1), links);
      assert.deepEqual(shrunk.attachment.devices, first.devices);
    } finally {
      await net.detach(ns.pod, first);
    }
    assert.equal(await netnsPicture(sys, ns.pod), before);
  },
});
