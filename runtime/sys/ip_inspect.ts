/**
 * Reads what a CNI plugin (or podman/netavark, or a test) left in a network namespace: links with
 * their MAC, MTU and addresses, routes and static neighbours, from `ip -json`. The JSON is validated
 * field by field; nothing is cast.
 *
 * The route and neighbour shapes match the guest agent's `agent/network/ip.ts` (`RouteSpec`,
 * `Neighbor`) so the sandbox core can hand them over unchanged.
 *
 * @module
 */
import { RuntimeError } from "../errors.ts";
import { type NetSys, parseJsonOutput, runInNetns } from "./ip_command.ts";

export type IpFamily = 4 | 6;

/** One link as `ip -d -json link show` reports it. */
export interface NetLink {
  readonly ifindex: number;
  readonly name: string;
  /** `linkinfo.info_kind` ("veth", "bridge", "tun", "macvtap"...); "" for physical devices. */
  readonly kind: string;
  readonly mac: string;
  readonly mtu: number;
  readonly up: boolean;
  readonly linkType: string;
  /** Bridge (or other master) this link is enslaved to. */
  readonly master?: string;
  /** `ifalias`; the bridge model keeps the original MAC there while attached. */
  readonly alias?: string;
  /**
   * `parentbus`/`parentdev`: the bus and device behind a link backed by hardware ("pci",
   * "0000:00:03.0"; "virtio", "virtio2"). Absent for virtual links (veth, tap, bridge, macvlan...).
   */
  readonly parentBus?: string;
  readonly parentDev?: string;
}

export interface NetAddress {
  readonly family: IpFamily;
  readonly address: string;
  readonly prefix: number;
  readonly scope: string;
}

/** A route of the main table. `destination` is a CIDR, or "" for the default route. */
export interface NetRoute {
  readonly destination: string;
  readonly gateway: string;
  readonly device: string;
  readonly source: string;
  /** rtnetlink scope number: 0 universe, 253 link, 254 host. */
  readonly scope: number;
  readonly family: IpFamily;
  readonly metric: number;
  readonly protocol: string;
}

/** A static (PERMANENT) neighbour entry. `state` holds NUD bits; 0x80 is permanent. */
export interface NetNeighbor {
  readonly address: string;
  readonly device: string;
  readonly mac: string;
  readonly state: number;
}

export interface NetnsSnapshot {
  /** The network namespace read (a path or a name), for error messages. */
  readonly netns: string;
  readonly links: readonly NetLink[];
  /** Addresses by interface name. */
  readonly addresses: ReadonlyMap<string, readonly NetAddress[]>;
  readonly routes: readonly NetRoute[];
  readonly neighbors: readonly NetNeighbor[];
}

type Rec = Record<string, unknown>;
const isRec = (x: unknown): x is Rec => typeof x === "object" && x !== null && !Array.isArray(x);

function list(x: unknown, what: string): Rec[] {
  if (!Array.isArray(x) || !x.every(isRec)) {
    throw new RuntimeError("Internal", `Cannot read ${what}: expected a JSON array of objects`);
  }
  return x;
}
function str(r: Rec, k: string, what: string): string {
  const v = r[k];
  if (typeof v !== "string") {
    throw new RuntimeError("Internal", `Cannot read ${what}: field "${k}" is not a string`);
  }
  return v;
}
function optStr(r: Rec, k: string): string {
  const v = r[k];
  return typeof v === "string" ? v : "";
}
function int(r: Rec, k: string, what: string): number {
  const v = r[k];
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0) {
    throw new RuntimeError("Internal", `Cannot read ${what}: field "${k}" is not a non-negative integer`);
  }
  return v;
}
function strings(r: Rec, k: string): string[] {
  const v = r[k];
  return Array.isArray(v) ? v.filter((s): s is string => typeof s === "string") : [];
}

/** Parses `ip -d -json link show`. */
export function parseLinks(json: unknown): NetLink[] {
  return list(json, "links").map((r) => {
    const what = "links";
    const info = isRec(r["linkinfo"]) ? r["linkinfo"] : {};
    const master = optStr(r, "master");
    const alias = optStr(r, "ifalias");
    const parentBus = optStr(r, "parentbus");
    const parentDev = optStr(r, "parentdev");
    return {
      ifindex: int(r, "ifindex", what),
      name: str(r, "ifname", what),
      kind: optStr(info, "info_kind"),
      mac: optStr(r, "address").toLowerCase(),
      mtu: int(r, "mtu", what),
      up: strings(r, "flags").includes("UP"),
      linkType: optStr(r, "link_type"),
      ...(master !== "" ? { master } : {}),
      ...(alias !== "" ? { alias } : {}),
      ...(parentBus !== "" ? { parentBus } : {}),
      ...(parentDev !== "" ? { parentDev } : {}),
    };
  });
}

/** Parses `ip -json addr show` into addresses by interface name. */
export function parseAddresses(json: unknown): Map<string, NetAddress[]> {
  const out = new Map<string, NetAddress[]>();
  for (const r of list(json, "addresses")) {
    const name = str(r, "ifname", "addresses");
    const addrs: NetAddress[] = [];
    for (const a of list(r["addr_info"] ?? [], "addresses")) {
      const fam = optStr(a, "family");
      if (fam !== "inet" && fam !== "inet6") continue;
      addrs.push({
        family: fam === "inet" ? 4 : 6,
        address: str(a, "local", "addresses"),
        prefix: int(a, "prefixlen", "addresses"),
        scope: optStr(a, "scope"),
      });
    }
    out.set(name, addrs);
  }
  return out;
}

const SCOPES: Readonly<Record<string, number>> = { global: 0, universe: 0, site: 200, link: 253, host: 254 };

/** Parses `ip [-6] -json route show`. */
export function parseRoutes(json: unknown, family: IpFamily): NetRoute[] {
  return list(json, "routes").map((r) => {
    const dst = str(r, "dst", "routes");
    return {
      destination: dst === "default" ? "" : dst.includes("/") ? dst : `${dst}/${family === 4 ? 32 : 128}`,
      gateway: optStr(r, "gateway"),
      device: optStr(r, "dev"),
      source: optStr(r, "prefsrc"),
      scope: SCOPES[optStr(r, "scope") || "global"] ?? 0,
      family,
      metric: typeof r["metric"] === "number" ? r["metric"] : 0,
      protocol: optStr(r, "protocol") || "boot",
    };
  });
}

/** Parses `ip -json neigh show nud permanent`. */
export function parseNeighbors(json: unknown): NetNeighbor[] {
  return list(json, "neighbours").flatMap((r) => {
    const mac = optStr(r, "lladdr").toLowerCase();
    if (mac === "" || !strings(r, "state").includes("PERMANENT")) return [];
    return [{ address: str(r, "dst", "neighbours"), device: optStr(r, "dev"), mac, state: 0x80 }];
  });
}

async function ipJson(sys: NetSys, netns: string, args: string[], signal?: AbortSignal): Promise<unknown> {
  const what = `Cannot inspect network namespace "${netns}"`;
  const out = await runInNetns(sys, netns, "ip", args, { what, ...(signal ? { signal } : {}) });
  return parseJsonOutput(out, what);
}

/** Reads links, addresses, routes and static neighbours of `netns`. */
export async function inspectNetns(
  sys: NetSys,
  netns: string,
  opts: { signal?: AbortSignal } = {},
): Promise<NetnsSnapshot> {
  const s = opts.signal;
  const links = parseLinks(await ipJson(sys, netns, ["-d", "-json", "link", "show"], s));
  const addresses = parseAddresses(await ipJson(sys, netns, ["-json", "addr", "show"], s));
  const routes = [
    ...parseRoutes(await ipJson(sys, netns, ["-4", "-json", "route", "show"], s), 4),
    ...parseRoutes(await ipJson(sys, netns, ["-6", "-json", "route", "show"], s), 6),
  ];
  const neighbors = parseNeighbors(
    await ipJson(sys, netns, ["-json", "neigh", "show", "nud", "permanent"], s),
  );
  return { netns, links, addresses, routes, neighbors };
}

/** Reads only the links of `netns` (used by detach and by the checks after each step). */
export async function listLinks(
  sys: NetSys,
  netns: string,
  opts: { signal?: AbortSignal } = {},
): Promise<NetLink[]> {
  return parseLinks(await ipJson(sys, netns, ["-d", "-json", "link", "show"], opts.signal));
}
