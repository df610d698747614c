import assert from "node:assert/strict";
import { manifest } from "./manifest.ts";
import { MacvtapNetwork } from "./macvtap.ts";
import { createLogger, nullSink } from "../../../runtime/log/logger.ts";
import { sandboxId } from "../../../runtime/ids.ts";
import { isRuntimeError } from "../../../runtime/errors.ts";
import {
  commandsUsed,
  fakeNetns,
  PHYSICAL_NIC,
  refusesPhysicalNic,
} from "../../../runtime/sys/_ip_fake_netns.ts";

const log = createLogger({ sink: nullSink });
const sandbox = sandboxId("sb-1");
const NS = "/var/run/netns/pod";
const available = () => Promise.resolve({ builtIn: true, modulesDisabled: true });
const respond = (c: string) => c.startsWith("unshare ") ? { stdout: "246:3\n" } : undefined;
const mutations = (cmds: readonly string[]) => cmds.filter((c) => !c.includes("-json"));

Deno.test({
  name: "MacvtapNetwork.attach() makes a passthru macvtap and a node of its character device",
  permissions: "none",
  async fn() {
    const sys = fakeNetns({ respond });
    const net = new MacvtapNetwork(sys, log, { nodeDir: "/run/cocoon/macvtap", probe: available });
    const att = await net.attach(NS, { sandbox });
    assert.deepEqual(mutations(sys.commands), [
      "ip link add link eth0 name mvt3_cocoon type macvtap mode passthru",
      "ip link set dev mvt3_cocoon mtu 1450",
      "ip link set dev mvt3_cocoon up",
      `unshare --mount -- sh -c mount -t sysfs sysfs /sys && cat /sys/class/net/"$1"/macvtap/tap*/dev sh mvt3_cocoon`,
      "mkdir -p -m 0700 /run/cocoon/macvtap",
      "rm -f /run/cocoon/macvtap/sb-1-mvt3_cocoon",
      "mknod -m 0600 /run/cocoon/macvtap/sb-1-mvt3_cocoon c 246 3",
    ]);
    assert.deepEqual(att.endpoints[0]?.macvtap, {
      name: "mvt3_cocoon",
      charDevice: "/run/cocoon/macvtap/sb-1-mvt3_cocoon",
      major: 246,
      minor: 3,
    });
    assert.deepEqual(att.devices, [{
      kind: "net",
      id: "net3",
      tap: "mvt3_cocoon",
      mac: "0a:58:0a:f4:00:05",
      mtu: 1450,
    }]);
    const n = sys.calls.length;
    await net.detach(NS, att);
    assert.deepEqual(mutations(sys.commands.slice(n)), [
      "ip link del dev mvt3_cocoon",
      "rm -f /run/cocoon/macvtap/sb-1-mvt3_cocoon",
    ]);
  },
});

Deno.test({
  name: "MacvtapNetwork.attach() refuses a physical NIC in the netns and makes nothing",
  permissions: "none",
  async fn() {
    const sys = fakeNetns({
      respond,
      extraLinks: [PHYSICAL_NIC],
    });
    const net = new MacvtapNetwork(sys, log, { nodeDir: "/run/cocoon/macvtap", probe: available });
    await assert.rejects(net.attach(NS, { sandbox }), refusesPhysicalNic(NS));
    assert.deepEqual(mutations(sys.commands), []);
  },
});

Deno.test({
  name: "MacvtapNetwork.attach() fails with FailedPrecondition and the reason when the kernel has no macvtap",
  permissions: "none",
  async fn() {
    const sys = fakeNetns({ respond });
    const net = new MacvtapNetwork(sys, log, {
      nodeDir: "/run/x",
      probe: () => Promise.resolve({ builtIn: false, modulesDisabled: true }),
    });
    await assert.rejects(net.attach(NS, { sandbox }), (e: unknown) => {
      assert.ok(isRuntimeError(e) && e.code === "FailedPrecondition");
      assert.equal(
        e.message,
        'Cannot use network model "macvtap": the kernel has no macvtap driver ("macvtap" is not in /proc/devices) and modules cannot be loaded (kernel parameter "nomodule")',
      );
      return true;
    });
    assert.deepEqual(sys.calls, [], "nothing was touched");
  },
});

Deno.test({
  name: "MacvtapNetwork.attach() removes the macvtap when the device number cannot be read",
  permissions: "none",
  async fn() {
    const sys = fakeNetns({ failOn: (c) => c.startsWith("unshare ") });
    const net = new MacvtapNetwork(sys, log, { nodeDir: "/run/x", probe: available });
    await assert.rejects(
      net.attach(NS, { sandbox }),
      /Cannot make the device node of macvtap "mvt3_cocoon" in "\/var\/run\/netns\/pod"/,
    );
    const failed = sys.commands.findIndex((c) => c.startsWith("unshare "));
    assert.deepEqual(mutations(sys.commands.slice(failed + 1)), [
      "ip link del dev mvt3_cocoon",
      "rm -f /run/x/sb-1-mvt3_cocoon",
    ]);
  },
});

Deno.test({
  name: "macvtap manifest lists every command the plugin runs",
  permissions: "none",
  async fn() {
    const sys = fakeNetns({ respond });
    const net = new MacvtapNetwork(sys, log, { nodeDir: "/run/x", probe: available });
    await net.detach(NS, await net.attach(NS, { sandbox }));
    const allowed = manifest.permissions.run;
    assert.ok(Array.isArray(allowed));
    for (const c of commandsUsed(sys.calls)) assert.ok(allowed.includes(c), `"${c}" is not in the manifest`);
  },
});

Deno.test({
  name:
    "MacvtapNetwork.rescan() adds a macvtap for a new interface and removes the one of a deleted interface",
  permissions: "none",
  async fn() {
    const sys = fakeNetns({ respond });
    const net = new MacvtapNetwork(sys, log, { nodeDir: "/run/x", probe: available });
    const first = await net.attach(NS, { sandbox });
    await sys.run("ip", ["link", "add", "name", "eth1", "type", "veth"]);
    const grown = await net.rescan(NS, first, { sandbox });
    assert.deepEqual(grown.added.map((d) => d.kind === "net" ? d.tap : ""), ["mvt11_cocoon"]);
    assert.deepEqual(grown.attachment.endpoints.map((e) => e.macvtap.charDevice), [
      "/run/x/sb-1-mvt3_cocoon",
      "/run/x/sb-1-mvt11_cocoon",
    ]);
    await sys.run("ip", ["link", "del", "dev", "eth0"]);
    const n = sys.calls.length;
    const shrunk = await net.rescan(NS, grown.attachment, { sandbox });
    assert.deepEqual(shrunk.removed, first.devices);
    assert.deepEqual(mutations(sys.commands.slice(n)).slice(0, 2), [
      "ip link del dev mvt3_cocoon",
      "rm -f /run/x/sb-1-mvt3_cocoon",
    ]);
  },
});
