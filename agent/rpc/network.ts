/**
 * Network RPCs: ListInterfaces, UpdateInterface, ListRoutes, UpdateRoutes, AddARPNeighbors.
 *
 * @module
 */
import { Agent } from "../../runtime/protocol/gen/cocoon/agent/v1/agent_pb.ts";
import {
  IpFamily,
  type NetworkInterface,
  type Route,
} from "../../runtime/protocol/gen/cocoon/agent/v1/types_pb.ts";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type {
  NetworkInterfaceSchema,
  RouteSchema,
} from "../../runtime/protocol/gen/cocoon/agent/v1/types_pb.ts";
import { RuntimeError } from "../../runtime/errors.ts";
import type { UnaryHandler } from "../../runtime/protocol/ttrpc/server.ts";
import type { AgentCore } from "../core.ts";
import {
  addNeighbors,
  type Family,
  type Iface,
  listInterfaces,
  listRoutes,
  type RouteSpec,
  updateInterface,
  updateRoutes,
} from "../network/ip.ts";
import { unary } from "./_codec.ts";

const fam = (f: IpFamily): Family => (f === IpFamily.V6 ? 6 : 4);
const toFam = (f: Family): IpFamily => (f === 6 ? IpFamily.V6 : IpFamily.V4);

function ifaceOf(i: NetworkInterface): Iface {
  return {
    name: i.name,
    mac: i.macAddress,
    mtu: i.mtu,
    up: i.up,
    addresses: i.addresses.map((a) => ({
      family: fam(a.family),
      address: a.address,
      prefix: a.prefixLength,
    })),
  };
}
function ifaceMsg(i: Iface): MessageInitShape<typeof NetworkInterfaceSchema> {
  return {
    name: i.name,
    macAddress: i.mac,
    mtu: i.mtu,
    up: i.up,
    addresses: i.addresses.map((a) => ({
      family: toFam(a.family),
      address: a.address,
      prefixLength: a.prefix,
    })),
  };
}
function routeOf(r: Route): RouteSpec {
  return {
    destination: r.destination,
    gateway: r.gateway,
    device: r.device,
    source: r.source,
    scope: r.scope,
    family: r.family === IpFamily.UNSPECIFIED
      ? (r.destination.includes(":") || r.gateway.includes(":") ? 6 : 4)
      : fam(r.family),
    metric: r.metric,
  };
}
function routeMsg(r: RouteSpec): MessageInitShape<typeof RouteSchema> {
  return { ...r, family: toFam(r.family) };
}

export function networkHandlers(core: AgentCore): [string, UnaryHandler][] {
  const runner = core.env.runner;
  return [
    unary(
      Agent.method.listInterfaces,
      async () => ({ interfaces: (await listInterfaces(runner, core.paths.sys)).map(ifaceMsg) }),
    ),
    unary(Agent.method.updateInterface, async (req) => {
      if (!req.interface) throw new RuntimeError("InvalidArgument", "Cannot update an interface: none given");
      return ifaceMsg(await updateInterface(runner, ifaceOf(req.interface), core.paths.sys));
    }),
    unary(Agent.method.listRoutes, async () => ({ routes: (await listRoutes(runner)).map(routeMsg) })),
    unary(Agent.method.updateRoutes, async (req) => ({
      routes: (await updateRoutes(runner, req.routes.map(routeOf))).map(routeMsg),
    })),
    unary(Agent.method.addARPNeighbors, async (req) => {
      await addNeighbors(
        runner,
        req.neighbors.map((n) => ({
          address: n.address?.address ?? "",
          device: n.device,
          mac: n.macAddress,
          state: n.state,
        })),
      );
      return {};
    }),
  ];
}
