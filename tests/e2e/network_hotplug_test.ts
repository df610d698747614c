/**
 * Interfaces that appear after start (Docker 26+ adds the veth after task creation, Kata #9340):
 * the guest runs on tcfilter, a second veth is then added to the pod netns, `rescan` connects it,
 * the returned device is hot-plugged over QMP (netdev_add + device_add on a free PCIe root port),
 * and the peer reaches the guest on the new NIC. Deleting the veth and rescanning reports the
 * device as removed (unplugged over QMP) and drops its tap. The pod netns ends as it began.
 */
import assert from "node:assert/strict";
import { createLogger, nullSink } from "../../runtime/log/logger.ts";
import { sandboxId } from "../../runtime/ids.ts";
import { hostNetSys, runInNetns } from "../../runtime/sys/ip_command.ts";
import { createTestNetns, netnsPicture } from "../../runtime/sys/_ip_testing.ts";
import type { NetworkAttachment } from "../../plugins/types.ts";
import { TcFilterNetwork } from "../../plugins/network/tcfilter/tcfilter.ts";
import { ensureNetTestGuest, NET_HOT_NIC, NET_READY } from "./network_guest.ts";
import { inNetns, qmp, startGuestVm, waitForLine } from "./network_vm.ts";

const sys = hostNetSys();
const log = createLogger({ sink: nullSink });
const sandbox = sandboxId("sb-hot");

Deno.test({
  name: "TcFilterNetwork.rescan(): a veth added after start is hot-plugged and reachable in the guest",
  permissions: {
    run: ["nsenter", "ip", "tc", "sysctl", "apt-get", "apt-cache", "dpkg-deb", "sh", "cpio", "gzip"],
    read: true,
    write: ["/tmp", new URL("../../.cache", import.meta.url).pathname],
    net: true, // QMP is a unix socket
    env: true,
  },
  async fn() {
    const guest = await ensureNetTestGuest();
    await using ns = await createTestNetns(sys);
    const before = await netnsPicture(sys, ns.pod);
    const net = new TcFilterNetwork(sys, log);
    const dir = await Deno.makeTempDir({ prefix: "cocoon-nethot-" });
    let att: NetworkAttachment | undefined;
    try {
      const first = await net.attach(ns.pod, { sandbox });
      att = first;
      const nic = first.devices[0];
      assert.ok(nic?.kind === "net");
      await using vm = startGuestVm({
        netns: ns.pod,
        dir,
        guest,
        nic,
        cmdline: `cocoon.net=${nic.mac},${ns.podIp}/24,${ns.peerIp},${nic.mtu} cocoon.hot=192.168.77.2/24`,
      });
      await waitForLine(vm.consoleLog, NET_READY, 180_000);

      // The CNI (or Docker) adds a second interface to the running pod.
      const ip = (args: string[]) => runInNetns(sys, ns.pod, "ip", args, { what: "test" });
      await ip(["link", "add", "eth1", "type", "veth", "peer", "name", "x1", "netns", ns.peerName]);
      await ip(["addr", "add", "192.168.77.2/24", "dev", "eth1"]);
      await ip(["link", "set", "eth1", "up"]);
      await inNetns(ns.peer, ["ip", "addr", "add", "192.168.77.1/24", "dev", "x1"]);
      await inNetns(ns.peer, ["ip", "link", "set", "x1", "up"]);

      const grown = await net.rescan(ns.pod, first, { sandbox });
      att = grown.attachment;
      const hot = grown.added[0];
      assert.ok(grown.added.length === 1 && hot?.kind === "net", JSON.stringify(grown.added));
      await qmp(vm.qmpSocket, [
        {
          execute: "netdev_add",
          arguments: {
            type: "tap",
            id: "hot1",
            ifname: hot.tap,
            script: "no",
            downscript: "no",
            vhost: false,
          },
        },
        {
          execute: "device_add",
          arguments: { driver: "virtio-net-pci", id: hot.id, netdev: "hot1", mac: hot.mac, bus: "rp1" },
        },
      ]);
      const line = await waitForLine(vm.consoleLog, NET_HOT_NIC, 60_000);
      assert.ok(line.trim().endsWith(hot.mac), line);
      const ping = await inNetns(ns.peer, ["busybox", "ping", "-c", "3", "-W", "3", "192.168.77.2"]);
      assert.ok(ping.ok && / 0% packet loss/.test(ping.out), ping.out);

      // The interface goes away again: the device is reported removed and its tap is gone.
      await ip(["link", "del", "eth1"]);
      const shrunk = await net.rescan(ns.pod, grown.attachment, { sandbox });
      att = shrunk.attachment;
      assert.deepEqual(shrunk.removed, [hot]);
      assert.deepEqual(shrunk.added, []);
      await qmp(vm.qmpSocket, [{ execute: "device_del", arguments: { id: hot.id } }]);
      assert.ok(!(await ip(["-json", "link", "show"])).includes(hot.tap));
    } finally {
      if (att !== undefined) await net.detach(ns.pod, att);
      await Deno.remove(dir, { recursive: true });
    }
    assert.equal(await netnsPicture(sys, ns.pod), before);
  },
});
