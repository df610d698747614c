/**
 * Kernel module selection: which `.ko` files (and their dependencies, from `modules.dep`) go into the
 * initrd, and which of the wanted modules the kernel already has built in.
 *
 * @module
 */
import { GuestImageError } from "../errors.ts";

/**
 * Modules the guest needs: virtio devices (the balloon for free page reporting), 9p, vsock, overlay, erofs, and nvdimm/virtio-pmem (for
 * the DAX-mapped userland image). Names the kernel builds in are skipped; unknown names fail.
 */
export const DEFAULT_GUEST_MODULES: readonly string[] = [
  "virtio_pci",
  "virtio_mmio",
  "virtio_console",
  "virtio_blk",
  "virtio_net",
  "virtio_rng",
  "virtio_balloon",
  "9pnet_virtio",
  "9p",
  "vsock",
  "vmw_vsock_virtio_transport",
  "overlay",
  "erofs",
  "nfit",
  "nd_pmem",
  "virtio_pmem",
];

/**
 * Modules carried (with their dependencies) but not loaded at boot: the agent loads one when it is
 * needed (`modprobe ext4` before it mounts a disk), and the kernel loads the others when a container
 * asks (a container with NET_ADMIN making a bridge, a veth pair, a VLAN or nftables/iptables rules in
 * its own network namespace: /proc/sys/kernel/modprobe is set by the guest's init), so boots that
 * never need them do not pay for them.
 */
export const ON_DEMAND_GUEST_MODULES: readonly string[] = [
  "ext4",
  "bridge",
  "br_netfilter",
  "veth",
  "macvlan",
  "ipvlan",
  "vxlan",
  "8021q",
  "tun",
  "nf_tables",
  "nft_compat",
  "nft_chain_nat",
  "nft_ct",
  "nft_masq",
  "nf_conntrack_netlink",
  "ip_tables",
  "iptable_filter",
  "iptable_nat",
  "xt_MASQUERADE",
  "xt_conntrack",
  "xt_addrtype",
  "xt_nat",
];

/** `modules.dep`: module path (relative to the module dir) → the paths it depends on. */
export type ModulesDep = ReadonlyMap<string, readonly string[]>;

/** Parses the text of `modules.dep` (`path: dep dep ...` lines). */
export function parseModulesDep(text: string): ModulesDep {
  const out = new Map<string, string[]>();
  for (const line of text.split("\n")) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const deps = line.slice(colon + 1).trim();
    out.set(line.slice(0, colon).trim(), deps === "" ? [] : deps.split(/\s+/));
  }
  return out;
}

/** The module name of a path: basename without `.ko[.xz|.zst|.gz]`, with `-` read as `_`. */
export function moduleName(path: string): string {
  const base = path.slice(path.lastIndexOf("/") + 1);
  return base.replace(/\.ko(\.(xz|zst|gz))?$/, "").replaceAll("-", "_");
}

/** Soft pre-dependencies (`modules.softdep`) and exact aliases (`modules.alias`). */
export interface SoftDeps {
  /** module name → names or aliases to load before it. */
  pre: ReadonlyMap<string, readonly string[]>;
  /** alias → module names. */
  aliases: ReadonlyMap<string, readonly string[]>;
}

/** Parses `modules.softdep` and `modules.alias` texts (only `pre:` soft dependencies matter here). */
export function parseSoftDeps(softdep: string, alias: string): SoftDeps {
  const pre = new Map<string, string[]>();
  for (const line of softdep.split("\n")) {
    const m = /^softdep\s+(\S+)\s+(.*)$/.exec(line.trim());
    if (!m) continue;
    const words = (m[2] ?? "").split(/\s+/);
    const names: string[] = [];
    let inPre = false;
    for (const w of words) {
      if (w === "pre:") inPre = true;
      else if (w === "post:") inPre = false;
      else if (inPre && w !== "") names.push(w);
    }
    const key = (m[1] ?? "").replaceAll("-", "_");
    pre.set(key, [...(pre.get(key) ?? []), ...names]);
  }
  const aliases = new Map<string, string[]>();
  for (const line of alias.split("\n")) {
    const m = /^alias\s+(\S+)\s+(\S+)$/.exec(line.trim());
    if (!m || (m[1] ?? "").includes("*")) continue;
    const key = m[1] ?? "";
    aliases.set(key, [...(aliases.get(key) ?? []), (m[2] ?? "").replaceAll("-", "_")]);
  }
  return { pre, aliases };
}

/** The result of resolving wanted module names. */
export interface ModuleSelection {
  /** Paths (relative to the module dir) to copy, dependencies before dependants. */
  paths: string[];
  /** Module names to load at boot, in order (wanted names that are loadable modules). */
  load: string[];
  /** Wanted names the kernel has built in. */
  builtin: string[];
}

/**
 * Resolves `wanted` names against `dep` (recursively through dependencies) and `builtin` (the lines
 * of `modules.builtin`). Throws when a wanted name is neither a module nor built in.
 */
export function selectModules(
  dep: ModulesDep,
  builtinPaths: readonly string[],
  wanted: readonly string[],
  soft: SoftDeps = { pre: new Map(), aliases: new Map() },
): ModuleSelection {
  const byName = new Map<string, string>();
  for (const p of dep.keys()) byName.set(moduleName(p), p);
  const builtinNames = new Set(builtinPaths.map(moduleName));
  const paths: string[] = [];
  const seen = new Set<string>();
  const load: string[] = [];
  const builtin: string[] = [];
  const visit = (p: string, chain: string[]): void => {
    if (seen.has(p)) return;
    if (chain.includes(p)) {
      throw new GuestImageError("Internal", `Cannot resolve module "${p}": dependency cycle`);
    }
    // Soft pre-dependencies (e.g. libcrc32c needs a crc32c implementation) are loaded explicitly
    // first: they are not symbol dependencies, so modprobe from modules.dep would not pull them.
    for (const s of soft.pre.get(moduleName(p)) ?? []) {
      for (
        const n of byName.has(s.replaceAll("-", "_")) ? [s.replaceAll("-", "_")] : soft.aliases.get(s) ?? []
      ) {
        const sp = byName.get(n);
        if (sp === undefined || seen.has(sp)) continue;
        visit(sp, [...chain, p]);
        if (!load.includes(n)) load.push(n);
      }
    }
    for (const d of dep.get(p) ?? []) visit(d, [...chain, p]);
    seen.add(p);
    paths.push(p);
  };
  for (const raw of wanted) {
    const name = raw.replaceAll("-", "_");
    const p = byName.get(name);
    if (p !== undefined) {
      visit(p, []);
      if (!load.includes(name)) load.push(name);
    } else if (builtinNames.has(name)) {
      builtin.push(name);
    } else {
      throw new GuestImageError(
        "NotFound",
        `Cannot find kernel module "${raw}": neither a module nor built in`,
      );
    }
  }
  return { paths, load, builtin };
}
