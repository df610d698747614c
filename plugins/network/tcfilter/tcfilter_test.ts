import assert from "node:assert/strict";
import { manifest } from "./manifest.ts";
import { TcFilterNetwork } from "./tcfilter.ts";
import { createLogger, nullSink } from "../../../runtime/log/logger.ts";
import { sandboxId } from "../../../runtime/ids.ts";
import { commandsUsed, fakeNetns } from "../../../runtime/sys/ip_fake_netns.ts";

const log = createLogger({ sink: nullSink });
const sandbox = sandboxId("sb-1");
const NS = "/proc/4242/ns/net";

const ATTACH = [
  "ip tuntap add dev tap0_cocoon mode tap",
  "ip link set dev tap0_cocoon mtu 1450",
  "ip link set dev tap0_cocoon up",
  "tc -json qdisc show dev eth0",
  "tc qdisc add dev eth0 ingress",
  "tc qdisc add dev tap0_cocoon ingress",
  "tc filter add dev eth0 parent ffff: protocol all pref 49344 u32 match u8 0 0 action mirred egress redirect dev tap0_cocoon",
  "tc filter add dev tap0_cocoon parent ffff: protocol all pref 49344 u32 match u8 0 0 action mirred egress redirect dev eth0",
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
    const start = sys.commands.indexOf("ip tuntap add dev tap0_cocoon mode tap");
    assert.deepEqual(sys.commands.slice(start), ATTACH);
    assert.deepEqual(att.devices, [{
      kind: "net",
      id: "net0",
      tap: "tap0_cocoon",
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
      "ip link del dev tap0_cocoon",
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
      "ip link del dev tap0_cocoon",
      "tc filter del dev eth0 parent ffff: protocol all pref 49344",
    ]);
  },
});

Deno.test({
  name: "TcFilterNetwork.attach() rolls back and rethrows when a tc command fails",
  permissions: "none",
  async fn() {
    const sys = fakeNetns({ failOn: (c) => c.startsWith("tc filter add dev tap0_cocoon") });
    await assert.rejects(
      new TcFilterNetwork(sys, log).attach(NS, { sandbox }),
      /^RuntimeError: Cannot connect "eth0" to tap "tap0_cocoon" in "\/proc\/4242\/ns\/net": "nsenter --net=\/proc\/4242\/ns\/net -- tc filter add dev tap0_cocoon .*" exited with code 2: RTNETLINK answers: injected failure$/,
    );
    const failed = sys.commands.findIndex((c) => c.startsWith("tc filter add dev tap0_cocoon"));
    assert.deepEqual(mutations(sys.commands.slice(failed + 1)), [
      "ip link del dev tap0_cocoon",
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
