import assert from "node:assert/strict";
import { parseLinks } from "./ip_inspect.ts";
import { isPhysicalLink, selectEndpoints } from "./ip_endpoints.ts";
import { isRuntimeError } from "../errors.ts";

const NS = "/var/run/netns/cni-1234";

/** One `ip -d -j link show` entry; `extra` adds linkinfo, parentbus... */
function link(ifindex: number, ifname: string, extra: Record<string, unknown>): Record<string, unknown> {
  return {
    ifindex,
    ifname,
    flags: ["UP"],
    mtu: 1500,
    link_type: "ether",
    address: `02:00:00:00:00:0${ifindex}`,
    ...extra,
  };
}

const veth = link(2, "eth0", { linkinfo: { info_kind: "veth" } });
const nic = link(3, "ens3", { parentbus: "pci", parentdev: "0000:00:03.0" });

function snapshot(links: Record<string, unknown>[]) {
  return { netns: NS, links: parseLinks(links), addresses: new Map(), routes: [], neighbors: [] };
}

Deno.test({
  name: "isPhysicalLink() is true for a link with a parent device or without a link kind",
  permissions: "none",
  fn() {
    const [v, n, old, mv, dummy] = parseLinks([
      veth,
      nic,
      link(4, "ens4", {}),
      link(5, "macvlan0", { linkinfo: { info_kind: "macvlan" } }),
      link(6, "dummy0", { linkinfo: { info_kind: "dummy" } }),
    ]);
    assert.deepEqual([v, n, old, mv, dummy].map((l) => l !== undefined && isPhysicalLink(l)), [
      false,
      true,
      true,
      false,
      false,
    ]);
  },
});

Deno.test({
  name: "selectEndpoints() refuses a physical NIC with the interface, the netns and the fix",
  permissions: "none",
  fn() {
    assert.throws(
      () => selectEndpoints(snapshot([veth, nic])),
      (e: unknown) => {
        assert.ok(isRuntimeError(e));
        assert.equal(e.code, "FailedPrecondition");
        assert.equal(
          e.message,
          `Cannot connect interface "ens3" of network namespace "${NS}" to the VM as it is a physical device (parentbus "pci", parentdev "0000:00:03.0"): use the vfio network model for physical NICs, or have the CNI plugin create a veth`,
        );
        return true;
      },
    );
  },
});

Deno.test({
  name: "selectEndpoints() refuses a kind-less ether link that a kernel before 5.14 shows without a parent",
  permissions: "none",
  fn() {
    assert.throws(
      () => selectEndpoints(snapshot([veth, link(4, "ens4", {})])),
      /^RuntimeError: Cannot connect interface "ens4" of network namespace "\/var\/run\/netns\/cni-1234" to the VM as it is a physical device \(it has no link kind\): use the vfio network model/,
    );
  },
});

Deno.test({
  name: "selectEndpoints() keeps physical NICs when allowPhysical is set (the vfio model)",
  permissions: "none",
  fn() {
    const eps = selectEndpoints(snapshot([veth, nic]), { allowPhysical: true });
    assert.deepEqual(eps.map((e) => [e.name, e.kind]), [["eth0", "veth"], ["ens3", ""]]);
  },
});

Deno.test({
  name: "selectEndpoints() ignores physical links it would not carry: loopback and those enslaved elsewhere",
  permissions: "none",
  fn() {
    const eps = selectEndpoints(snapshot([
      veth,
      { ...link(1, "lo", {}), link_type: "loopback" },
      link(5, "ens5", { parentbus: "pci", parentdev: "0000:00:05.0", master: "bond0" }),
      link(6, "macvlan0", { linkinfo: { info_kind: "macvlan" } }),
    ]));
    assert.deepEqual(eps.map((e) => e.name), ["eth0", "macvlan0"]);
  },
});
