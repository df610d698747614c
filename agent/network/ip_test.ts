import assert from "node:assert/strict";
import { FakeRunner } from "../sys/_fake.ts";
import {
  addNeighbors,
  addRouteArgv,
  neighborArgv,
  parseIpOneline,
  parseIpRouteText,
  updateInterfaceArgv,
} from "./ip.ts";

Deno.test({
  name: "parseIpOneline() and parseIpRouteText() read the output of busybox and iproute2 ip",
  permissions: "none",
  fn() {
    const addrs = parseIpOneline(
      "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever\n" +
        "4: eth0    inet 192.0.2.2/24 brd 192.0.2.255 scope global eth0\\ x\n" +
        "4: eth0    inet6 fe80::1/64 scope link \\ x\n" +
        "5: veth0@if2    inet 10.1.0.1/16 scope global veth0\n",
    );
    assert.deepEqual(addrs.get("eth0"), [
      { family: 4, address: "192.0.2.2", prefix: 24 },
      { family: 6, address: "fe80::1", prefix: 64 },
    ]);
    assert.deepEqual(addrs.get("veth0"), [{ family: 4, address: "10.1.0.1", prefix: 16 }]);
    const routes = parseIpRouteText(
      "default via 192.0.2.1 dev eth0 metric 100\n192.0.2.0/24 dev eth0 proto kernel scope link  src 192.0.2.2 \nunreachable 10.9.0.0/16\n",
      4,
    );
    assert.deepEqual(routes, [
      { destination: "", gateway: "192.0.2.1", device: "eth0", source: "", scope: 0, family: 4, metric: 100 },
      {
        destination: "192.0.2.0/24",
        gateway: "",
        device: "eth0",
        source: "192.0.2.2",
        scope: 253,
        family: 4,
        metric: 0,
      },
    ]);
  },
});

Deno.test({
  name: "updateInterfaceArgv(), addRouteArgv() and neighborArgv() build ip commands and reject bad input",
  permissions: "none",
  fn() {
    assert.deepEqual(
      updateInterfaceArgv({
        name: "eth0",
        mac: "02:00:00:00:00:02",
        mtu: 1400,
        up: true,
        addresses: [{ family: 4, address: "10.0.0.2", prefix: 24 }],
      }),
      [
        ["ip", "link", "set", "dev", "eth0", "down"],
        ["ip", "link", "set", "dev", "eth0", "address", "02:00:00:00:00:02"],
        ["ip", "link", "set", "dev", "eth0", "mtu", "1400"],
        ["ip", "addr", "flush", "dev", "eth0"],
        ["ip", "-4", "addr", "add", "10.0.0.2/24", "dev", "eth0"],
        ["ip", "link", "set", "dev", "eth0", "up"],
      ],
    );
    assert.deepEqual(
      addRouteArgv({
        destination: "",
        gateway: "10.0.0.1",
        device: "eth0",
        source: "",
        scope: 0,
        family: 4,
        metric: 0,
      }),
      ["ip", "-4", "route", "replace", "default", "via", "10.0.0.1", "dev", "eth0"],
    );
    assert.deepEqual(
      neighborArgv({ address: "10.0.0.1", device: "eth0", mac: "AA:BB:CC:DD:EE:FF", state: 0x80 }),
      [
        "ip",
        "neigh",
        "replace",
        "10.0.0.1",
        "lladdr",
        "aa:bb:cc:dd:ee:ff",
        "dev",
        "eth0",
        "nud",
        "permanent",
      ],
    );
    assert.throws(
      () => updateInterfaceArgv({ name: "eth0; rm -rf /", mac: "", mtu: 0, up: false, addresses: [] }),
      {
        code: "InvalidArgument",
      },
    );
    assert.throws(() =>
      addRouteArgv({
        destination: "x/y/z",
        gateway: "",
        device: "",
        source: "",
        scope: 0,
        family: 4,
        metric: 0,
      })
    );
  },
});

Deno.test({
  name: "addNeighbors() falls back to arp -s when ip cannot add neighbours (busybox)",
  permissions: "none",
  async fn() {
    const runner = new FakeRunner((
      argv,
    ) => (argv[1] === "neigh" ? { code: 1, stderr: "ip: invalid argument" } : {}));
    await addNeighbors(runner, [{
      address: "10.0.0.1",
      device: "eth0",
      mac: "02:00:00:00:00:09",
      state: 0x80,
    }]);
    assert.deepEqual(runner.commands().slice(1), ["arp -i eth0 -s 10.0.0.1 02:00:00:00:00:09"]);
  },
});
