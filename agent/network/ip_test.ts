import assert from "node:assert/strict";
import { FakeRunner } from "../sys/fake.ts";
import {
  addRouteArgv,
  neighborArgv,
  parseIpAddr,
  parseIpRoute,
  updateInterface,
  updateInterfaceArgv,
} from "./ip.ts";

const ADDR_JSON = JSON.stringify([
  {
    ifname: "lo",
    address: "00:00:00:00:00:00",
    mtu: 65536,
    flags: ["LOOPBACK", "UP"],
    addr_info: [{ family: "inet", local: "127.0.0.1", prefixlen: 8 }],
  },
  { ifname: "eth0", address: "02:00:00:00:00:01", mtu: 1500, flags: ["BROADCAST"], addr_info: [] },
]);

Deno.test({
  name: "parseIpAddr() and parseIpRoute() read iproute2 JSON",
  permissions: "none",
  fn() {
    const ifs = parseIpAddr(ADDR_JSON);
    assert.deepEqual(ifs[0], {
      name: "lo",
      mac: "00:00:00:00:00:00",
      mtu: 65536,
      up: true,
      addresses: [{ family: 4, address: "127.0.0.1", prefix: 8 }],
    });
    assert.equal(ifs[1]?.up, false);
    const routes = parseIpRoute(
      JSON.stringify([{ dst: "default", gateway: "10.0.0.1", dev: "eth0" }, {
        dst: "10.0.0.0/24",
        dev: "eth0",
        scope: "link",
        prefsrc: "10.0.0.2",
      }]),
      4,
    );
    assert.equal(routes[0]?.destination, "");
    assert.equal(routes[0]?.gateway, "10.0.0.1");
    assert.equal(routes[1]?.scope, 253);
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
      [
        "ip",
        "-4",
        "route",
        "replace",
        "default",
        "via",
        "10.0.0.1",
        "dev",
        "eth0",
      ],
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
      { code: "InvalidArgument" },
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
  name: "updateInterface() renames the interface found by MAC address first",
  permissions: "none",
  async fn() {
    let listed = 0;
    const runner = new FakeRunner((argv) => {
      if (argv.includes("-j")) {
        listed++;
        const after = JSON.stringify([{
          ifname: "net1",
          address: "02:00:00:00:00:01",
          mtu: 1500,
          flags: ["UP"],
          addr_info: [],
        }]);
        return { stdout: listed === 1 ? ADDR_JSON : after };
      }
      return {};
    });
    const r = await updateInterface(runner, {
      name: "net1",
      mac: "02:00:00:00:00:01",
      mtu: 0,
      up: true,
      addresses: [],
    });
    assert.equal(r.name, "net1");
    assert.ok(runner.commands().includes("ip link set dev eth0 name net1"));
  },
});
