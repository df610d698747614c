import assert from "node:assert/strict";
import type { NetworkAttachment, NetworkEndpoint } from "../../plugins/types.ts";
import type { GuestInterface, GuestRoute } from "../agent_client/types.ts";
import { deviceId, macAddress } from "../ids.ts";
import {
  configureGuestNetwork,
  endpointRoutes,
  mergeRoutes,
  type NetworkAgent,
  withCharDevices,
} from "./network.ts";

const MAC = macAddress("aa:bb:cc:00:00:02");
const ep: NetworkEndpoint = {
  name: "eth0",
  mac: MAC,
  mtu: 1450,
  addresses: ["10.1.2.2/24", "fd00::2/64"],
  routes: [{
    destination: "",
    gateway: "10.1.2.1",
    device: "eth0",
    source: "",
    scope: 0,
    family: 4,
    metric: 0,
  }],
  neighbors: [{ address: "10.1.2.7", device: "eth0", mac: "02:00:00:00:00:07", state: 128 }],
};

class RecordingAgent implements NetworkAgent {
  calls: string[] = [];
  constructor(readonly guest: GuestInterface[], readonly routes: GuestRoute[] = []) {}
  listInterfaces() {
    return Promise.resolve(this.guest);
  }
  updateInterface(i: GuestInterface) {
    this.calls.push(
      `if ${i.name} ${i.mac} ${i.mtu} ${i.up} ${i.addresses.map((a) => `${a.address}/${a.prefix}`)}`,
    );
    return Promise.resolve(i);
  }
  listRoutes() {
    return Promise.resolve(this.routes);
  }
  updateRoutes(rs: readonly GuestRoute[]) {
    this.calls.push(`routes ${rs.map((r) => `${r.destination || "default"}>${r.gateway ?? ""}`).join(",")}`);
    return Promise.resolve([...rs]);
  }
  addArpNeighbors(ns: readonly { address: { address: string }; mac: string }[]) {
    this.calls.push(`neigh ${ns.map((n) => `${n.address.address}=${n.mac}`).join(",")}`);
    return Promise.resolve();
  }
}

Deno.test({
  name: "configureGuestNetwork() gives the NIC the endpoint's identity, routes and neighbours",
  permissions: "none",
  async fn() {
    const connected: GuestRoute = { destination: "10.1.2.0/24", device: "eth0", scope: 253, family: 4 };
    const agent = new RecordingAgent(
      [{ name: "eth0", mac: "AA:BB:CC:00:00:02", mtu: 1500, up: false, addresses: [] }],
      [connected],
    );
    await configureGuestNetwork(agent, [ep]);
    assert.deepEqual(agent.calls, [
      "if eth0 aa:bb:cc:00:00:02 1450 true 10.1.2.2/24,fd00::2/64",
      "routes 10.1.2.0/24>,default>10.1.2.1",
      "neigh 10.1.2.7=02:00:00:00:00:07",
    ]);
  },
});

Deno.test({
  name: "configureGuestNetwork() moves a guest NIC aside when it holds the name with another MAC",
  permissions: "none",
  async fn() {
    const agent = new RecordingAgent([
      { name: "eth0", mac: "02:00:00:00:00:99", mtu: 1500, up: false, addresses: [] },
      { name: "eth1", mac: MAC, mtu: 1500, up: false, addresses: [] },
    ]);
    await configureGuestNetwork(agent, [{ ...ep, routes: [], neighbors: [] }]);
    assert.deepEqual(agent.calls, [
      "if cocoon0 02:00:00:00:00:99 1500 false ",
      "if eth0 aa:bb:cc:00:00:02 1450 true 10.1.2.2/24,fd00::2/64",
    ]);
  },
});

Deno.test({
  name: "configureGuestNetwork() does nothing without endpoints",
  permissions: "none",
  async fn() {
    const agent = new RecordingAgent([]);
    await configureGuestNetwork(agent, []);
    assert.deepEqual(agent.calls, []);
  },
});

Deno.test({
  name: "mergeRoutes() keeps the guest's routes of the replaced families unless redefined",
  permissions: "none",
  fn() {
    const current: GuestRoute[] = [
      { destination: "10.1.2.0/24", device: "eth0", scope: 253, family: 4 },
      { destination: "", gateway: "10.9.9.9", family: 4 },
      { destination: "fe80::/64", device: "eth0", family: 6, metric: 256 },
    ];
    const wanted = endpointRoutes([ep]);
    assert.deepEqual(mergeRoutes(current, wanted), [current[0], ...wanted]);
  },
});

Deno.test({
  name: "withCharDevices() gives the macvtap node to the device of its tap, and leaves taps alone",
  permissions: "none",
  fn() {
    const tap = { kind: "net" as const, id: deviceId("net3"), tap: "tap3_cocoon", mac: MAC, mtu: 1500 };
    const mvt = { kind: "net" as const, id: deviceId("net4"), tap: "mvt4_cocoon", mac: MAC, mtu: 1500 };
    const mvtEndpoint = { ...ep, macvtap: { name: "mvt4_cocoon", charDevice: "/run/m/sb-mvt4_cocoon" } };
    const a: NetworkAttachment = { endpoints: [mvtEndpoint], devices: [tap, mvt] };
    assert.deepEqual(withCharDevices(a).devices, [tap, { ...mvt, charDevice: "/run/m/sb-mvt4_cocoon" }]);
    const plain: NetworkAttachment = { endpoints: [ep], devices: [tap] };
    assert.equal(withCharDevices(plain), plain);
  },
});
