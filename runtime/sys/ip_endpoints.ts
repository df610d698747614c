/**
 * The endpoints a network model carries into the VM: every ethernet-like interface that the CNI
 * plugin (or podman/netavark, or a test) created in the pod's network namespace, with the data the
 * guest agent needs to give the VM's NIC the same identity (MAC, MTU, addresses, routes, static
 * neighbours). Shared by the tcfilter, bridge and macvtap plugins, plus the small tap/qdisc helpers
 * they have in common.
 *
 * @module
 */
import type { Device, NetworkAttachment, NetworkEndpoint } from "../../plugins/types.ts";
import { RuntimeError } from "../errors.ts";
import { macAddress } from "../ids.ts";
import { type NetSys, parseJsonOutput, runInNetns } from "./ip_command.ts";
import type { NetLink, NetNeighbor, NetnsSnapshot, NetRoute } from "./ip_inspect.ts";

/** Every link Cocoon creates in a netns ends with this suffix (`tap0_cocoon`, `br0_cocoon`...). */
const COCOON_LINK_SUFFIX = "_cocoon";

/** Link kinds carried into the VM; "" is a physical device moved into the netns (vfio model only). */
const ENDPOINT_KINDS: readonly string[] = ["veth", "macvlan", "ipvlan", "vlan", ""];

/** A {@link NetworkEndpoint} plus what the guest agent needs to copy the interface. */
export interface EndpointInfo extends NetworkEndpoint {
  /** Position among the endpoints, in ifindex order. */
  readonly index: number;
  /** Interface index in the netns: names the host-side devices (`tap<ifindex>_cocoon`). */
  readonly ifindex: number;
  /** Link kind in the netns ("veth"...). */
  readonly kind: string;
  /** Routes through this interface, without the kernel's connected routes (the guest makes those). */
  readonly routes: readonly NetRoute[];
  readonly neighbors: readonly NetNeighbor[];
}

/** True for links that Cocoon created (and therefore removes). */
export function isCocoonLink(name: string): boolean {
  return name.endsWith(COCOON_LINK_SUFFIX);
}

/**
 * Name of the host-side device `prefix<n>_cocoon`; `n` is the ifindex of the netns interface it
 * serves, so names stay the same across rescans. Throws when the name would not fit IFNAMSIZ.
 */
export function cocoonLinkName(prefix: string, n: number): string {
  const name = `${prefix}${n}${COCOON_LINK_SUFFIX}`;
  if (name.length > 15) {
    throw new RuntimeError(
      "OutOfRange",
      `Cannot name the device for interface index ${n}: "${name}" is longer than 15 bytes`,
    );
  }
  return name;
}

/** The ifindex in a Cocoon link name made by {@link cocoonLinkName}, or undefined. */
export function cocoonLinkIndex(prefix: string, name: string): number | undefined {
  const m = new RegExp(`^${prefix}(\\d+)${COCOON_LINK_SUFFIX}$`).exec(name);
  return m ? Number(m[1]) : undefined;
}

/** What a rescan changed: the whole new attachment, and the devices to hot-plug and unplug. */
export interface NetworkRescan<A extends NetworkAttachment = NetworkAttachment> {
  readonly attachment: A;
  readonly added: readonly Device[];
  readonly removed: readonly Device[];
}

/**
 * True for a link backed by hardware: the kernel names its parent bus/device (`parentbus`,
 * `parentdev`), or, for kernels older than 5.14 that do not report a parent, it has no link kind.
 * Meant for ether links (the loopback has no kind either).
 */
export function isPhysicalLink(link: NetLink): boolean {
  return link.parentBus !== undefined || link.parentDev !== undefined || link.kind === "";
}

function physicalLinkError(netns: string, link: NetLink): RuntimeError {
  const why = link.parentBus !== undefined || link.parentDev !== undefined
    ? `parentbus "${link.parentBus ?? ""}", parentdev "${link.parentDev ?? ""}"`
    : "it has no link kind";
  return new RuntimeError(
    "FailedPrecondition",
    `Cannot connect interface "${link.name}" of network namespace "${netns}" to the VM as it is a physical device (${why}): use the vfio network model for physical NICs, or have the CNI plugin create a veth`,
  );
}

/**
 * Picks the interfaces to carry into the VM: ethernet links of a supported kind that Cocoon did not
 * create, in ifindex order. `mac` overrides the MAC read from the link (the bridge model keeps
 * the original MAC in the link's alias while attached).
 *
 * @throws {RuntimeError} `FailedPrecondition` when one of them is a physical device
 * ({@link isPhysicalLink}) and `allowPhysical` is not set: only the vfio model, which passes the
 * device itself through, sets it.
 */
export function selectEndpoints(
  snap: NetnsSnapshot,
  opts: { originalMac?: (link: NetLink) => string | undefined; allowPhysical?: boolean } = {},
): EndpointInfo[] {
  const picked = [...snap.links]
    .filter((l) => l.linkType === "ether" && !isCocoonLink(l.name) && ENDPOINT_KINDS.includes(l.kind))
    .filter((l) => l.master === undefined || isCocoonLink(l.master))
    .sort((a, b) => a.ifindex - b.ifindex);
  const physical = picked.find(isPhysicalLink);
  if (physical !== undefined && opts.allowPhysical !== true) throw physicalLinkError(snap.netns, physical);
  return picked.map((l, index) => {
    const addrs = (snap.addresses.get(l.name) ?? []).filter((a) => !(a.family === 6 && a.scope === "link"));
    return {
      index,
      ifindex: l.ifindex,
      kind: l.kind,
      name: l.name,
      mac: macAddress(opts.originalMac?.(l) ?? l.mac),
      mtu: l.mtu,
      addresses: addrs.map((a) => `${a.address}/${a.prefix}`),
      routes: snap.routes.filter((r) =>
        r.device === l.name && r.protocol !== "kernel" && !r.destination.toLowerCase().startsWith("fe80:")
      ),
      neighbors: snap.neighbors.filter((n) => n.device === l.name),
    };
  });
}

/** The tc handle of the ingress qdisc. */
export const INGRESS_PARENT = "ffff:";

/** True when `dev` has an ingress qdisc. */
export async function hasIngressQdisc(
  sys: NetSys,
  netns: string,
  dev: string,
  opts: { signal?: AbortSignal } = {},
): Promise<boolean> {
  const what = `Cannot list qdiscs of "${dev}" in "${netns}"`;
  const out = await runInNetns(sys, netns, "tc", ["-json", "qdisc", "show", "dev", dev], { what, ...opts });
  const qdiscs = parseJsonOutput(out, what);
  return Array.isArray(qdiscs) && qdiscs.some((q) => isKind(q, "ingress"));
}

/** Preference numbers of the ingress filters on `dev` (one entry per filter element). */
export async function ingressFilterPrefs(
  sys: NetSys,
  netns: string,
  dev: string,
  opts: { signal?: AbortSignal } = {},
): Promise<number[]> {
  const what = `Cannot list ingress filters of "${dev}" in "${netns}"`;
  const out = await runInNetns(sys, netns, "tc", [
    "-json",
    "filter",
    "show",
    "dev",
    dev,
    "parent",
    INGRESS_PARENT,
  ], {
    what,
    ...opts,
  });
  const filters = parseJsonOutput(out, what);
  if (!Array.isArray(filters)) return [];
  return filters.flatMap((f) => {
    const pref: unknown = typeof f === "object" && f !== null ? Reflect.get(f, "pref") : undefined;
    return typeof pref === "number" ? [pref] : [];
  });
}

function isKind(q: unknown, kind: string): boolean {
  return typeof q === "object" && q !== null && Reflect.get(q, "kind") === kind;
}

/**
 * Creates a persistent tap `name` in `netns` with `mtu` and sets it up. QEMU later attaches to it by
 * name (`-netdev tap,ifname=<name>`) from inside the same netns.
 */
export async function createTap(
  sys: NetSys,
  netns: string,
  tap: { name: string; mtu: number },
  opts: { signal?: AbortSignal } = {},
): Promise<void> {
  const what = `Cannot create tap "${tap.name}" in "${netns}"`;
  await runInNetns(sys, netns, "ip", ["tuntap", "add", "dev", tap.name, "mode", "tap"], { what, ...opts });
  await runInNetns(sys, netns, "ip", ["link", "set", "dev", tap.name, "mtu", String(tap.mtu)], {
    what,
    ...opts,
  });
  await runInNetns(sys, netns, "ip", ["link", "set", "dev", tap.name, "up"], { what, ...opts });
}

/** Deletes every link in `links` whose name matches `re` (Cocoon's own devices). */
export async function deleteLinksMatching(
  sys: NetSys,
  netns: string,
  links: readonly NetLink[],
  re: RegExp,
  opts: { signal?: AbortSignal } = {},
): Promise<string[]> {
  const gone: string[] = [];
  for (const l of links.filter((x) => re.test(x.name))) {
    await runInNetns(sys, netns, "ip", ["link", "del", "dev", l.name], {
      what: `Cannot delete "${l.name}" in "${netns}"`,
      ...opts,
    });
    gone.push(l.name);
  }
  return gone;
}
