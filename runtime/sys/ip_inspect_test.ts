import assert from "node:assert/strict";
import { parseAddresses, parseLinks, parseNeighbors, parseRoutes } from "./ip_inspect.ts";
import { cocoonLinkIndex, cocoonLinkName, selectEndpoints } from "./ip_endpoints.ts";
import { inNetnsArgv, netnsPath, parseJsonOutput } from "./ip_command.ts";

Deno.test({
  name: "parseLinks() reads kind, MAC, MTU, master and alias and rejects malformed entries",
  permissions: "none",
  fn() {
    const links = parseLinks([
      {
        ifindex: 3,
        ifname: "eth0",
        flags: ["BROADCAST", "UP"],
        mtu: 1450,
        link_type: "ether",
        address: "0A:58:0A:F4:00:05",
        linkinfo: { info_kind: "veth" },
        master: "br3_cocoon",
        ifalias: "cocoon-mac=0a:58:0a:f4:00:05",
      },
      {
        ifindex: 1,
        ifname: "lo",
        flags: ["LOOPBACK"],
        mtu: 65536,
        link_type: "loopback",
        address: "00:00:00:00:00:00",
      },
    ]);
    assert.deepEqual(links[0], {
      ifindex: 3,
      name: "eth0",
      kind: "veth",
      mac: "0a:58:0a:f4:00:05",
      mtu: 1450,
      up: true,
      linkType: "ether",
      master: "br3_cocoon",
      alias: "cocoon-mac=0a:58:0a:f4:00:05",
    });
    assert.equal(links[1]?.up, false);
    assert.throws(
      () => parseLinks([{ ifname: "x", mtu: 1 }]),
      /field "ifindex" is not a non-negative integer/,
    );
    assert.throws(() => parseLinks({}), /expected a JSON array of objects/);
  },
});

Deno.test({
  name: "parseLinks() reads parentbus and parentdev of a hardware-backed link as iproute2 6.1 prints them",
  permissions: "none",
  fn() {
    // Trimmed from `ip -d -j link show` on a VM host: a virtio-net NIC and an ifb.
    const links = parseLinks([
      {
        ifindex: 4,
        ifname: "eth0",
        flags: ["BROADCAST", "MULTICAST", "UP", "LOWER_UP"],
        mtu: 1400,
        link_type: "ether",
        address: "02:fc:00:00:00:01",
        parentbus: "virtio",
        parentdev: "virtio2",
      },
      {
        ifindex: 2,
        ifname: "ifb0",
        flags: ["BROADCAST", "NOARP"],
        mtu: 1500,
        link_type: "ether",
        address: "42:e6:15:0f:6b:8a",
        linkinfo: { info_kind: "ifb" },
      },
    ]);
    assert.equal(links[0]?.parentBus, "virtio");
    assert.equal(links[0]?.parentDev, "virtio2");
    assert.equal(links[0]?.kind, "");
    assert.equal("parentBus" in (links[1] ?? {}), false);
    assert.equal("parentDev" in (links[1] ?? {}), false);
  },
});

Deno.test({
  name: "parseRoutes() maps default, host and scoped routes; parseNeighbors() keeps permanent entries",
  permissions: "none",
  fn() {
    assert.deepEqual(
      parseRoutes(
        [
          { dst: "default", gateway: "10.0.0.1", dev: "eth0" },
          { dst: "10.0.0.0/24", dev: "eth0", protocol: "kernel", scope: "link", prefsrc: "10.0.0.2" },
        ],
        4,
      ),
      [
        {
          destination: "",
          gateway: "10.0.0.1",
          device: "eth0",
          source: "",
          scope: 0,
          family: 4,
          metric: 0,
          protocol: "boot",
        },
        {
          destination: "10.0.0.0/24",
          gateway: "",
          device: "eth0",
          source: "10.0.0.2",
          scope: 253,
          family: 4,
          metric: 0,
          protocol: "kernel",
        },
      ],
    );
    assert.equal(
      parseRoutes([{ dst: "fd00::5", dev: "eth0", metric: 1024 }], 6)[0]?.destination,
      "fd00::5/128",
    );
    assert.deepEqual(
      parseNeighbors([
        { dst: "10.0.0.7", dev: "eth0", lladdr: "02:00:00:00:00:07", state: ["PERMANENT"] },
        { dst: "10.0.0.8", dev: "eth0", lladdr: "02:00:00:00:00:08", state: ["REACHABLE"] },
      ]),
      [{ address: "10.0.0.7", device: "eth0", mac: "02:00:00:00:00:07", state: 0x80 }],
    );
  },
});

Deno.test({
  name: "selectEndpoints() drops link-local IPv6, kernel routes and Cocoon's own links",
  permissions: "none",
  fn() {
    const links = parseLinks([
      {
        ifindex: 2,
        ifname: "eth0",
        flags: ["UP"],
        mtu: 1500,
        link_type: "ether",
        address: "02:00:00:00:00:02",
        linkinfo: { info_kind: "veth" },
      },
      {
        ifindex: 5,
        ifname: "tap2_cocoon",
        flags: ["UP"],
        mtu: 1500,
        link_type: "ether",
        address: "02:00:00:00:00:05",
        linkinfo: { info_kind: "tun" },
      },
      {
        ifindex: 6,
        ifname: "vxlan0",
        flags: ["UP"],
        mtu: 1450,
        link_type: "ether",
        address: "02:00:00:00:00:06",
        linkinfo: { info_kind: "vxlan" },
      },
    ]);
    const addresses = parseAddresses([{
      ifname: "eth0",
      addr_info: [
        { family: "inet", local: "10.0.0.2", prefixlen: 24, scope: "global" },
        { family: "inet6", local: "fe80::1", prefixlen: 64, scope: "link" },
        { family: "inet6", local: "fd00::2", prefixlen: 64, scope: "global" },
      ],
    }]);
    const routes = [
      ...parseRoutes([{ dst: "default", gateway: "10.0.0.1", dev: "eth0" }, {
        dst: "10.0.0.0/24",
        dev: "eth0",
        protocol: "kernel",
      }], 4),
      ...parseRoutes([{ dst: "fe80::/64", dev: "eth0", protocol: "kernel" }], 6),
    ];
    const eps = selectEndpoints({ netns: "pod", links, addresses, routes, neighbors: [] });
    assert.deepEqual(eps.map((e) => [e.name, e.ifindex, e.addresses, e.routes.map((r) => r.destination)]), [
      ["eth0", 2, ["10.0.0.2/24", "fd00::2/64"], [""]],
    ]);
  },
});

Deno.test({
  name: "cocoonLinkName() names by ifindex within IFNAMSIZ and netnsPath() accepts names and paths",
  permissions: "none",
  fn() {
    assert.equal(cocoonLinkName("tap", 3), "tap3_cocoon");
    assert.equal(cocoonLinkIndex("tap", "tap12_cocoon"), 12);
    assert.equal(cocoonLinkIndex("tap", "br12_cocoon"), undefined);
    assert.throws(() => cocoonLinkName("tap", 12345678), /longer than 15 bytes/);
    assert.equal(netnsPath("cni-1234"), "/var/run/netns/cni-1234");
    assert.equal(netnsPath("/proc/42/ns/net"), "/proc/42/ns/net");
    assert.throws(() => netnsPath("../etc"), /Invalid network namespace/);
    assert.deepEqual(inNetnsArgv("/proc/42/ns/net", "ip", ["link"]), ["nsenter", [
      "--net=/proc/42/ns/net",
      "--",
      "ip",
      "link",
    ]]);
    assert.deepEqual(parseJsonOutput("  \n", "x"), []);
    assert.throws(
      () => parseJsonOutput("{oops", "Cannot list"),
      /Cannot list: the command printed invalid JSON/,
    );
  },
});
