/**
 * Domain ⇄ protobuf translation for the agent client (kata `trans.rs`). Replies from the guest are
 * untrusted: sizes and values are bounded here.
 *
 * @module
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { AgentError } from "../errors.ts";
import type { WaitProcessResponse } from "../protocol/gen/cocoon/agent/v1/agent_pb.ts";
import type {
  ContainerStats as PbStats,
  GuestDetails as PbDetails,
} from "../protocol/gen/cocoon/agent/v1/guest_pb.ts";
import type { StdioConfigSchema } from "../protocol/gen/cocoon/agent/v1/stdio_pb.ts";
import type { VersionResponse } from "../protocol/gen/cocoon/agent/v1/health_pb.ts";
import {
  type ArpNeighborSchema,
  IpFamily,
  type NetworkInterface,
  type NetworkInterfaceSchema,
  type Route,
  type RouteSchema,
  type StorageSchema,
} from "../protocol/gen/cocoon/agent/v1/types_pb.ts";
import type {
  AgentVersion,
  ArpNeighbor,
  ContainerStats,
  GuestDetails,
  GuestInterface,
  GuestMount,
  GuestRoute,
  JsonObject,
  ProcessExit,
  StdioSetup,
} from "./types.ts";

const MAX_STR = 4096;
const enc = new TextEncoder();

function bounded(s: string, what: string): string {
  if (s.length > MAX_STR) {
    throw new AgentError("DataLoss", `Agent sent an oversized ${what}: ${s.length} characters`);
  }
  return s;
}

export function jsonBytes(o: JsonObject): Uint8Array {
  return enc.encode(JSON.stringify(o));
}

export function storageToPb(m: GuestMount): MessageInitShape<typeof StorageSchema> {
  return {
    driver: m.driver,
    source: m.source,
    mountPoint: m.mountPoint,
    fsType: m.fsType ?? "",
    options: [...(m.options ?? [])],
    driverOptions: [...(m.driverOptions ?? [])],
    readOnly: m.readOnly ?? false,
  };
}

export function stdioToPb(s: StdioSetup | undefined): MessageInitShape<typeof StdioConfigSchema> {
  return {
    stdin: s?.stdin ?? true,
    stdout: s?.stdout ?? true,
    stderr: s?.stderr ?? true,
    terminal: s?.terminal ?? false,
    ...(s?.window ? { window: { rows: s.window.rows, columns: s.window.columns } } : {}),
  };
}

export function exitFromPb(r: WaitProcessResponse): ProcessExit {
  if (r.exitStatus > 255 + 128) {
    throw new AgentError("DataLoss", `Agent sent an invalid exit status ${r.exitStatus}`);
  }
  return {
    exitStatus: r.exitStatus,
    exitedAt: r.exitedAt ? timestampDate(r.exitedAt) : undefined,
    pid: r.pid,
  };
}

export function statsFromPb(s: PbStats | undefined): ContainerStats {
  return {
    ...(s?.cpu ? { cpu: { usageNs: s.cpu.usageNs, userNs: s.cpu.userNs, systemNs: s.cpu.systemNs } } : {}),
    ...(s?.memory
      ? {
        memory: {
          usageBytes: s.memory.usageBytes,
          limitBytes: s.memory.limitBytes,
          maxUsageBytes: s.memory.maxUsageBytes,
          cacheBytes: s.memory.cacheBytes,
          oomKills: s.memory.oomKills,
        },
      }
      : {}),
    ...(s?.pids ? { pids: { current: s.pids.current, limit: s.pids.limit } } : {}),
    sampledAt: s?.sampledAt ? timestampDate(s.sampledAt) : undefined,
  };
}

export function versionFromPb(v: VersionResponse): AgentVersion {
  return {
    agentVersion: bounded(v.agentVersion, "agent version"),
    protocolVersion: v.protocolVersion,
    kernelRelease: bounded(v.kernelRelease, "kernel release"),
  };
}

export function detailsFromPb(d: PbDetails): GuestDetails {
  return {
    kernelRelease: bounded(d.kernelRelease, "kernel release"),
    agentVersion: bounded(d.agentVersion, "agent version"),
    memoryBlockSizeBytes: d.memoryBlockSizeBytes,
    onlineCpus: d.onlineCpus,
    totalMemoryBytes: d.totalMemoryBytes,
    memoryHotplugProbe: d.memoryHotplugProbe,
  };
}

const fam = (f: IpFamily): 4 | 6 => (f === IpFamily.V6 ? 6 : 4);
const pbFam = (f: 4 | 6): IpFamily => (f === 6 ? IpFamily.V6 : IpFamily.V4);

export function interfaceFromPb(i: NetworkInterface): GuestInterface {
  return {
    name: bounded(i.name, "interface name"),
    mac: bounded(i.macAddress, "MAC address"),
    mtu: i.mtu,
    up: i.up,
    addresses: i.addresses.slice(0, 256).map((a) => ({
      family: fam(a.family),
      address: bounded(a.address, "address"),
      prefix: a.prefixLength,
    })),
  };
}

export function interfaceToPb(i: GuestInterface): MessageInitShape<typeof NetworkInterfaceSchema> {
  return {
    name: i.name,
    macAddress: i.mac,
    mtu: i.mtu,
    up: i.up,
    addresses: i.addresses.map((a) => ({
      family: pbFam(a.family),
      address: a.address,
      prefixLength: a.prefix,
    })),
  };
}

export function routeFromPb(r: Route): GuestRoute {
  return {
    destination: bounded(r.destination, "route"),
    gateway: bounded(r.gateway, "gateway"),
    device: bounded(r.device, "device"),
    source: bounded(r.source, "source"),
    scope: r.scope,
    family: fam(r.family),
    metric: r.metric,
  };
}

export function routeToPb(r: GuestRoute): MessageInitShape<typeof RouteSchema> {
  return {
    destination: r.destination,
    gateway: r.gateway ?? "",
    device: r.device ?? "",
    source: r.source ?? "",
    scope: r.scope ?? 0,
    family: pbFam(r.family),
    metric: r.metric ?? 0,
  };
}

export function neighborToPb(n: ArpNeighbor): MessageInitShape<typeof ArpNeighborSchema> {
  return {
    address: { family: pbFam(n.address.family), address: n.address.address, prefixLength: n.address.prefix },
    device: n.device,
    macAddress: n.mac,
    state: n.state ?? 0x80,
  };
}

export { timestampFromDate };
