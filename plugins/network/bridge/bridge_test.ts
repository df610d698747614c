import assert from "node:assert/strict";
import { manifest } from "./manifest.ts";
import { BridgeNetwork } from "./bridge.ts";
import { createLogger, nullSink } from "../../../runtime/log/logger.ts";
import { sandboxId } from "../../../runtime/ids.ts";
import {
  commandsUsed,
  fakeNetns,
  PHYSICAL_NIC,
  refusesPhysicalNic,
} from "../../../runtime/sys/_ip_fake_netns.ts";

const log = createLogger({ sink: nullSink });
const sandbox = sandboxId("sb-1");
const NS = "/var/run/netns/pod";
const newMac = () => "02:11:22:33:44:55";
const mutations = (cmds: readonly string[]) => cmds.filter((c) => !c.includes("-json"));

Deno.test({
  name: "BridgeNetwork.attach() bridges the veth with a tap and moves the veth's MAC to the guest",
  permissions: "none",
  async fn() {
    const sys = fakeNetns();
    const att = await new BridgeNetwork(sys, log, { newMac }).attach(NS, { sandbox });
    assert.deepEqual(mutations(sys.commands), [
      "ip link add name br3_cocoon type bridge",
      "ip link set dev br3_cocoon mtu 1450",
      "ip link set dev br3_cocoon address 02:11:22:33:44:55",
      "sysctl -q -w net.ipv4.conf.br3_cocoon.arp_ignore=8",
      "sysctl -q -w net.ipv6.conf.br3_cocoon.disable_ipv6=1",
      "ip tuntap add dev tap3_cocoon mode tap",
      "ip link set dev tap3_cocoon mtu 1450",
      "ip link set dev tap3_cocoon up",
      "ip link set dev eth0 alias cocoon-mac=0a:58:0a:f4:00:05",
      "ip link set dev eth0 address 02:11:22:33:44:55",
      "ip link set dev eth0 master br3_cocoon",
      "ip link set dev tap3_cocoon master br3_cocoon",
      "ip link set dev br3_cocoon up",
    ]);
    assert.deepEqual(att.devices, [{
      kind: "net",
      id: "net3",
      tap: "tap3_cocoon",
      mac: "0a:58:0a:f4:00:05",
      mtu: 1450,
    }]);
  },
});

Deno.test({
  name:
    "BridgeNetwork.detach() deletes bridge and tap and restores the veth's MAC, also from a fresh instance",
  permissions: "none",
  async fn() {
    const sys = fakeNetns();
    await new BridgeNetwork(sys, log, { newMac }).attach(NS, { sandbox });
    const n = sys.calls.length;
    const fresh = new BridgeNetwork(sys, log, { newMac });
    await fresh.detach(NS, { endpoints: [], devices: [] });
    assert.deepEqual(mutations(sys.commands.slice(n)), [
      "ip link del dev br3_cocoon",
      "ip link del dev tap3_cocoon",
      "ip link set dev eth0 address 0a:58:0a:f4:00:05",
      "ip link set dev eth0 alias ",
    ]);
    const m = sys.calls.length;
    await fresh.detach(NS, { endpoints: [], devices: [] });
    assert.deepEqual(mutations(sys.commands.slice(m)), []);
  },
});

Deno.test({
  name: "BridgeNetwork.attach() restores the netns when enslaving fails",
  permissions: "none",
  async fn() {
    const sys = fakeNetns({ failOn: (c) => c === "ip link set dev tap3_cocoon master br3_cocoon" });
    await assert.rejects(new BridgeNetwork(sys, log, { newMac }).attach(NS, { sandbox }), /injected failure/);
    const failed = sys.commands.indexOf("ip link set dev tap3_cocoon master br3_cocoon");
    assert.deepEqual(mutations(sys.commands.slice(failed + 1)), [
      "ip link del dev br3_cocoon",
      "ip link del dev tap3_cocoon",
      "ip link set dev eth0 address 0a:58:0a:f4:00:05",
      "ip link set dev eth0 alias ",
    ]);
  },
});

Deno.test({
  name: "bridge manifest lists every command the plugin runs",
  permissions: "none",
  async fn() {
    const sys = fakeNetns();
    const net = new BridgeNetwork(sys, log);
    await net.detach(NS, await net.attach(NS, { sandbox }));
    const allowed = manifest.permissions.run;
    assert.ok(Array.isArray(allowed));
    for (const c of commandsUsed(sys.calls)) assert.ok(allowed.includes(c), `"${c}" is not in the manifest`);
  },
});

Deno.test({
  name: "BridgeNetwork.attach() refuses a physical NIC in the netns and makes nothing",
  permissions: "none",
  async fn() {
    const sys = fakeNetns({
      extraLinks: [PHYSICAL_NIC],
    });
    await assert.rejects(
      new BridgeNetwork(sys, log, { newMac }).attach(NS, { sandbox }),
      refusesPhysicalNic(NS),
    );
    assert.deepEqual(mutations(sys.commands), []);
  },
});

Deno.test({
  name: "BridgeNetwork.rescan() bridges an interface added after attach and releases one that went away",
  permissions: "none",
  async fn() {
    const sys = fakeNetns();
    const net = new BridgeNetwork(sys, log, { newMac });
    const first = await net.attach(NS, { sandbox });
    const same = await net.rescan(NS, first, { sandbox });
    assert.deepEqual([same.added, same.removed], [[], []]);
    assert.deepEqual(same.attachment.devices, first.devices, "the guest MAC is read back from the alias");
    await sys.run("ip", ["link", "add", "name", "eth1", "type", "veth"]);
    const grown = await net.rescan(NS, same.attachment, { sandbox });
    assert.deepEqual(grown.added.map((d) => d.kind === "net" ? [d.id, d.tap, d.mac] : []), [
      ["net12", "tap12_cocoon", "bb:bb:bb:bb:bb:bb"],
    ]);
    await sys.run("ip", ["link", "del", "dev", "eth1"]);
    const n = sys.calls.length;
    const shrunk = await net.rescan(NS, grown.attachment, { sandbox });
    assert.deepEqual(shrunk.removed, grown.added);
    assert.deepEqual(mutations(sys.commands.slice(n)), [
      "ip link del dev br12_cocoon",
      "ip link del dev tap12_cocoon",
    ]);
  },
});
