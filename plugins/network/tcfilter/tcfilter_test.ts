import assert from "node:assert/strict";
import { manifest } from "./manifest.ts";
import { TcFilterNetwork } from "./tcfilter.ts";
import { createLogger, nullSink } from "../../../runtime/log/logger.ts";
import { sandboxId } from "../../../runtime/ids.ts";
import {
  commandsUsed,
  fakeNetns,
  PHYSICAL_NIC,
  refusesPhysicalNic,
} from "../../../runtime/sys/_ip_fake_netns.ts";
import type { NetSys } from "../../../runtime/sys/ip_command.ts";
import { isRuntimeError } from "../../../runtime/errors.ts";

const log = createLogger({ sink: nullSink });
const sandbox = sandboxId("sb-1");
const NS = "/proc/4242/ns/net";

const ATTACH = [
  "ip tuntap add dev tap3_cocoon mode tap",
  "ip link set dev tap3_cocoon mtu 1450",
  "ip link set dev tap3_cocoon up",
  "tc -json qdisc show dev eth0",
  "tc qdisc add dev eth0 ingress",
  "tc qdisc add dev tap3_cocoon ingress",
  "tc filter add dev eth0 parent ffff: protocol all pref 49344 u32 match u8 0 0 action mirred egress redirect dev tap3_cocoon",
  "tc filter add dev tap3_cocoon parent ffff: protocol all pref 49344 u32 match u8 0 0 action mirred egress redirect dev eth0",
];

const mutations = (cmds: readonly string[]) =>
  cmds.filter((c) => !/ -json | show/.test(c) && !c.startsWith("tc -json"));

Deno.test({
  name: "TcFilterNetwork.attach() runs the tap and tc redirect commands inside the netns",
  permissions: "none",
  async fn() {
    const sys = fakeNetns();
    const att = await new TcFilterNetwork(sys, log).attach(NS, { sandbox });
    assert.ok(sys.calls.every((c) => c.startsWith(`nsenter --net=${NS} -- `)));
    const start = sys.commands.indexOf("ip tuntap add dev tap3_cocoon mode tap");
    assert.deepEqual(sys.commands.slice(start), ATTACH);
    assert.deepEqual(att.devices, [{
      kind: "net",
      id: "net3",
      tap: "tap3_cocoon",
      mac: "0a:58:0a:f4:00:05",
      mtu: 1450,
    }]);
    assert.deepEqual(
      att.endpoints.map((e) => ({ name: e.name, addresses: e.addresses, routes: e.routes.length })),
      [
        { name: "eth0", addresses: ["10.244.0.5/24"], routes: 1 },
      ],
    );
    assert.deepEqual(att.endpoints[0]?.routes[0], {
      destination: "",
      gateway: "10.244.0.1",
      device: "eth0",
      source: "",
      scope: 0,
      family: 4,
      metric: 0,
      protocol: "boot",
    });
  },
});

Deno.test({
  name: "TcFilterNetwork.detach() deletes the tap, the filter and the qdisc it made",
  permissions: "none",
  async fn() {
    const sys = fakeNetns();
    const net = new TcFilterNetwork(sys, log);
    const att = await net.attach(NS, { sandbox });
    const n = sys.calls.length;
    await net.detach(NS, att);
    assert.deepEqual(mutations(sys.commands.slice(n)), [
      "ip link del dev tap3_cocoon",
      "tc filter del dev eth0 parent ffff: protocol all pref 49344",
      "tc qdisc del dev eth0 ingress",
    ]);
    const m = sys.calls.length;
    await net.detach(NS, att);
    assert.deepEqual(mutations(sys.commands.slice(m)), [], "second detach changes nothing");
  },
});

Deno.test({
  name: "TcFilterNetwork.detach() keeps an ingress qdisc that other filters still use",
  permissions: "none",
  async fn() {
    const sys = fakeNetns();
    const net = new TcFilterNetwork(sys, log);
    await sys.run("tc", ["qdisc", "add", "dev", "eth0", "ingress"]);
    await sys.run("tc", ["filter", "add", "dev", "eth0", "parent", "ffff:", "pref", "1", "u32"]);
    const att = await net.attach(NS, { sandbox });
    assert.equal(
      sys.commands.filter((c) => c === "tc qdisc add dev eth0 ingress").length,
      1,
      "only the pre-existing one",
    );
    const n = sys.calls.length;
    await net.detach(NS, att);
    assert.deepEqual(mutations(sys.commands.slice(n)), [
      "ip link del dev tap3_cocoon",
      "tc filter del dev eth0 parent ffff: protocol all pref 49344",
    ]);
  },
});

Deno.test({
  name: "TcFilterNetwork.attach() rolls back and rethrows when a tc command fails",
  permissions: "none",
  async fn() {
    const sys = fakeNetns({ failOn: (c) => c.startsWith("tc filter add dev tap3_cocoon") });
    await assert.rejects(
      new TcFilterNetwork(sys, log).attach(NS, { sandbox }),
      /^RuntimeError: Cannot connect "eth0" to tap "tap3_cocoon" in "\/proc\/4242\/ns\/net": "nsenter --net=\/proc\/4242\/ns\/net -- tc filter add dev tap3_cocoon .*" exited with code 2: RTNETLINK answers: injected failure$/,
    );
    const failed = sys.commands.findIndex((c) => c.startsWith("tc filter add dev tap3_cocoon"));
    assert.deepEqual(mutations(sys.commands.slice(failed + 1)), [
      "ip link del dev tap3_cocoon",
      "tc filter del dev eth0 parent ffff: protocol all pref 49344",
      "tc qdisc del dev eth0 ingress",
    ]);
  },
});

Deno.test({
  name: "TcFilterNetwork.attach() carries only veth-like links, not loopback or bridges",
  permissions: "none",
  async fn() {
    const sys = fakeNetns({
      extraLinks: [{ ifindex: 7, ifname: "br-x", kind: "bridge", address: "02:00:00:00:00:09", mtu: 1500 }],
    });
    const att = await new TcFilterNetwork(sys, log).attach(NS, { sandbox });
    assert.deepEqual(att.endpoints.map((e) => e.name), ["eth0"]);
  },
});

Deno.test({
  name: "TcFilterNetwork.attach() and rescan() refuse a physical NIC in the netns and change nothing",
  permissions: "none",
  async fn() {
    const physical = PHYSICAL_NIC;
    const refused = refusesPhysicalNic(NS);
    const sys = fakeNetns({ extraLinks: [physical] });
    await assert.rejects(new TcFilterNetwork(sys, log).attach(NS, { sandbox }), refused);
    assert.deepEqual(mutations(sys.commands), []);
    const first = await new TcFilterNetwork(fakeNetns(), log).attach(NS, { sandbox });
    const later = fakeNetns({ extraLinks: [physical] }); // the same netns once a physical NIC showed up
    await assert.rejects(new TcFilterNetwork(later, log).rescan(NS, first, { sandbox }), refused);
    assert.deepEqual(mutations(later.commands), []);
  },
});

Deno.test({
  name: "tcfilter manifest lists every command the plugin runs",
  permissions: "none",
  async fn() {
    const sys = fakeNetns();
    const net = new TcFilterNetwork(sys, log);
    await net.detach(NS, await net.attach(NS, { sandbox }));
    const allowed = manifest.permissions.run;
    assert.ok(Array.isArray(allowed));
    for (const c of commandsUsed(sys.calls)) assert.ok(allowed.includes(c), `"${c}" is not in the manifest`);
  },
});

Deno.test({
  name: "TcFilterNetwork.rescan() connects an interface added after attach and drops one that went away",
  permissions: "none",
  async fn() {
    const sys = fakeNetns();
    const net = new TcFilterNetwork(sys, log);
    const first = await net.attach(NS, { sandbox });
    await sys.run("ip", ["link", "add", "name", "eth1", "type", "veth"]); // the CNI adds a second interface
    let n = sys.calls.length;
    const grown = await net.rescan(NS, first, { sandbox });
    assert.deepEqual(grown.added, [{
      kind: "net",
      id: "net11",
      tap: "tap11_cocoon",
      mac: "bb:bb:bb:bb:bb:bb",
      mtu: 1500,
    }]);
    assert.deepEqual(grown.removed, []);
    assert.deepEqual(grown.attachment.devices.map((d) => d.id), ["net3", "net11"]);
    assert.deepEqual(mutations(sys.commands.slice(n)), [
      "ip tuntap add dev tap11_cocoon mode tap",
      "ip link set dev tap11_cocoon mtu 1500",
      "ip link set dev tap11_cocoon up",
      "tc qdisc add dev eth1 ingress",
      "tc qdisc add dev tap11_cocoon ingress",
      "tc filter add dev eth1 parent ffff: protocol all pref 49344 u32 match u8 0 0 action mirred egress redirect dev tap11_cocoon",
      "tc filter add dev tap11_cocoon parent ffff: protocol all pref 49344 u32 match u8 0 0 action mirred egress redirect dev eth1",
    ]);
    n = sys.calls.length;
    const same = await net.rescan(NS, grown.attachment, { sandbox });
    assert.deepEqual([same.added, same.removed], [[], []]);
    assert.deepEqual(mutations(sys.commands.slice(n)), [], "a rescan without changes changes nothing");
    await sys.run("ip", ["link", "del", "dev", "eth0"]); // the first interface goes away
    n = sys.calls.length;
    const shrunk = await net.rescan(NS, same.attachment, { sandbox });
    assert.deepEqual(shrunk.removed.map((d) => d.id), ["net3"]);
    assert.deepEqual(shrunk.attachment.endpoints.map((e) => e.name), ["eth1"]);
    assert.deepEqual(mutations(sys.commands.slice(n)), ["ip link del dev tap3_cocoon"]);
  },
});

Deno.test({
  name: "TcFilterNetwork.attach() stops with Cancelled when its signal aborts and leaves nothing behind",
  permissions: "none",
  async fn() {
    const inner = fakeNetns();
    const ctl = new AbortController();
    const sys: NetSys = {
      run(cmd, args, opts) {
        if (opts?.signal?.aborted) return Promise.reject(new DOMException("aborted", "AbortError"));
        if (args.includes("tuntap")) ctl.abort(); // the caller gives up once the tap exists
        return inner.run(cmd, args);
      },
    };
    await assert.rejects(
      new TcFilterNetwork(sys, log).attach(NS, { sandbox, signal: ctl.signal }),
      (e: unknown) => {
        assert.ok(isRuntimeError(e) && e.code === "Cancelled", String(e));
        return true;
      },
    );
    const tail = mutations(
      inner.commands.slice(inner.commands.indexOf("ip tuntap add dev tap3_cocoon mode tap") + 1),
    );
    assert.deepEqual(tail, ["ip link del dev tap3_cocoon"], "the rollback ran without the aborted signal");
  },
});
