/**
 * Guest networking with `ip` (iproute2 or busybox: only the commands and output forms both have),
 * links read from /sys/class/net. Argv builders and text parsers are pure; running goes through the
 * command runner.
 *
 * @module
 */
import { RuntimeError } from "../../runtime/errors.ts";
import { type CommandRunner, runToEnd } from "../sys/command.ts";

export type Family = 4 | 6;
export interface IfaceAddress {
  readonly family: Family;
  readonly address: string;
  readonly prefix: number;
}
export interface Iface {
  readonly name: string;
  readonly mac: string;
  readonly mtu: number;
  readonly up: boolean;
  readonly addresses: readonly IfaceAddress[];
}
export interface RouteSpec {
  /** CIDR or "" for default. */
  readonly destination: string;
  readonly gateway: string;
  readonly device: string;
  readonly source: string;
  readonly scope: number;
  readonly family: Family;
  readonly metric: number;
}
export interface Neighbor {
  readonly address: string;
  readonly device: string;
  readonly mac: string;
  /** NUD state bits; 0x80 permanent. */
  readonly state: number;
}

const NAME_RE = /^[A-Za-z0-9_.:-]{1,15}$/;
const MAC_RE = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;
const ADDR_RE = /^[0-9a-fA-F.:]{2,45}$/;

function checkName(n: string): string {
  if (!NAME_RE.test(n)) {
    throw new RuntimeError("InvalidArgument", `Invalid interface name "${n.slice(0, 30)}"`);
  }
  return n;
}
function checkAddr(a: string): string {
  if (!ADDR_RE.test(a)) throw new RuntimeError("InvalidArgument", `Invalid IP address "${a.slice(0, 50)}"`);
  return a;
}
function checkCidr(c: string): string {
  const [a, p, ...rest] = c.split("/");
  if (a === undefined || rest.length > 0 || (p !== undefined && !/^\d{1,3}$/.test(p))) {
    throw new RuntimeError("InvalidArgument", `Invalid route destination "${c.slice(0, 50)}"`);
  }
  checkAddr(a);
  return c;
}

/** One link from /sys/class/net/<name>. */
export interface LinkInfo {
  readonly name: string;
  readonly mac: string;
  readonly mtu: number;
  readonly up: boolean;
}

/** Parses `ip -o addr show` (iproute2 and busybox print the same one-line form). Pure. */
export function parseIpOneline(text: string): Map<string, IfaceAddress[]> {
  const out = new Map<string, IfaceAddress[]>();
  for (const line of text.split("\n")) {
    const m = /^\d+:\s+([^\s@:]+)\S*\s+(inet6?)\s+([0-9a-fA-F.:]+)\/(\d{1,3})/.exec(line);
    if (!m) continue;
    const [, name = "", fam, address = "", prefix = "0"] = m;
    const list = out.get(name) ?? [];
    list.push({ family: fam === "inet6" ? 6 : 4, address, prefix: Number(prefix) });
    out.set(name, list);
  }
  return out;
}

/** Parses `ip -4|-6 route show` text. Pure. */
export function parseIpRouteText(text: string, family: Family): RouteSpec[] {
  const SCOPES: Record<string, number> = { universe: 0, global: 0, link: 253, host: 254 };
  const out: RouteSpec[] = [];
  for (const line of text.split("\n")) {
    const words = line.trim().split(/\s+/).filter((w) => w !== "");
    const dst = words[0];
    if (dst === undefined || ["unreachable", "blackhole", "prohibit", "local", "broadcast"].includes(dst)) {
      continue;
    }
    const kv = new Map<string, string>();
    for (let k = 1; k + 1 < words.length; k++) {
      const key = words[k] ?? "";
      if (["via", "dev", "src", "scope", "metric", "proto"].includes(key)) kv.set(key, words[++k] ?? "");
    }
    const scope = kv.get("scope");
    out.push({
      destination: dst === "default" ? "" : dst,
      gateway: kv.get("via") ?? "",
      device: kv.get("dev") ?? "",
      source: kv.get("src") ?? "",
      scope: scope === undefined ? 0 : SCOPES[scope] ?? (/^\d+$/.test(scope) ? Number(scope) : 0),
      family,
      metric: Number(kv.get("metric") ?? "0") || 0,
    });
  }
  return out;
}

/** argv lists that make `iface` as asked (by name). Pure. */
export function updateInterfaceArgv(iface: Iface): string[][] {
  const dev = checkName(iface.name);
  const cmds: string[][] = [["ip", "link", "set", "dev", dev, "down"]];
  if (iface.mac) {
    if (!MAC_RE.test(iface.mac)) {
      throw new RuntimeError("InvalidArgument", `Invalid MAC address "${iface.mac.slice(0, 30)}"`);
    }
    cmds.push(["ip", "link", "set", "dev", dev, "address", iface.mac.toLowerCase()]);
  }
  if (iface.mtu > 0) cmds.push(["ip", "link", "set", "dev", dev, "mtu", String(iface.mtu)]);
  cmds.push(["ip", "addr", "flush", "dev", dev]);
  for (const a of iface.addresses) {
    cmds.push(["ip", `-${a.family}`, "addr", "add", `${checkAddr(a.address)}/${a.prefix}`, "dev", dev]);
  }
  if (iface.up) cmds.push(["ip", "link", "set", "dev", dev, "up"]);
  return cmds;
}

/** argv to add one route. Pure. */
export function addRouteArgv(r: RouteSpec): string[] {
  const argv = [
    "ip",
    `-${r.family}`,
    "route",
    "replace",
    r.destination ? checkCidr(r.destination) : "default",
  ];
  if (r.gateway) argv.push("via", checkAddr(r.gateway));
  if (r.device) argv.push("dev", checkName(r.device));
  if (r.source) argv.push("src", checkAddr(r.source));
  if (r.scope === 253) argv.push("scope", "link");
  else if (r.scope === 254) argv.push("scope", "host");
  if (r.metric > 0) argv.push("metric", String(r.metric));
  return argv;
}

/** argv to add one permanent ARP/NDP neighbour. Pure. */
export function neighborArgv(n: Neighbor): string[] {
  if (!MAC_RE.test(n.mac)) {
    throw new RuntimeError("InvalidArgument", `Invalid MAC address "${n.mac.slice(0, 30)}"`);
  }
  const nud = n.state & 0x80 || n.state === 0 ? "permanent" : "reachable";
  return [
    "ip",
    "neigh",
    "replace",
    checkAddr(n.address),
    "lladdr",
    n.mac.toLowerCase(),
    "dev",
    checkName(n.device),
    "nud",
    nud,
  ];
}

async function run(runner: CommandRunner, argv: readonly string[]): Promise<string> {
  const r = await runToEnd(runner, argv);
  if (r.code !== 0) {
    throw new RuntimeError(
      "Internal",
      `Cannot run "${argv.join(" ")}": exited with code ${r.code}: ${r.stderr.trim().slice(0, 300)}`,
    );
  }
  return r.stdout;
}

/** Links from /sys/class/net plus addresses from `ip -o addr show`. */
export async function listInterfaces(runner: CommandRunner, sysRoot = "/sys"): Promise<Iface[]> {
  const addrs = parseIpOneline(await run(runner, ["ip", "-o", "addr", "show"]));
  const out: Iface[] = [];
  for await (const e of Deno.readDir(`${sysRoot}/class/net`)) {
    const link = await readLink(`${sysRoot}/class/net/${e.name}`, e.name);
    out.push({ ...link, addresses: addrs.get(e.name) ?? [] });
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

async function readLink(dir: string, name: string): Promise<LinkInfo> {
  const read = (f: string) => Deno.readTextFile(`${dir}/${f}`).then((s) => s.trim(), () => "");
  const flags = parseInt((await read("flags")) || "0", 16);
  return { name, mac: await read("address"), mtu: Number(await read("mtu")) || 0, up: (flags & 1) === 1 };
}

/** Applies `iface`; when its name is unknown, the interface with its MAC address is renamed first. */
export async function updateInterface(runner: CommandRunner, iface: Iface, sysRoot = "/sys"): Promise<Iface> {
  const current = await listInterfaces(runner, sysRoot);
  if (!current.some((i) => i.name === iface.name) && iface.mac) {
    const byMac = current.find((i) => i.mac.toLowerCase() === iface.mac.toLowerCase());
    if (!byMac) {
      throw new RuntimeError(
        "NotFound",
        `Cannot find an interface named "${iface.name}" or with MAC "${iface.mac}"`,
      );
    }
    await run(runner, ["ip", "link", "set", "dev", checkName(byMac.name), "down"]);
    await run(runner, ["ip", "link", "set", "dev", byMac.name, "name", checkName(iface.name)]);
  }
  for (const argv of updateInterfaceArgv(iface)) await run(runner, argv);
  const after = (await listInterfaces(runner, sysRoot)).find((i) => i.name === iface.name);
  if (!after) throw new RuntimeError("Internal", `Cannot find interface "${iface.name}" after updating it`);
  return after;
}

export async function listRoutes(runner: CommandRunner): Promise<RouteSpec[]> {
  const v6 = await run(runner, ["ip", "-6", "route", "show"]).catch(() => "");
  return [
    ...parseIpRouteText(await run(runner, ["ip", "-4", "route", "show"]), 4),
    ...parseIpRouteText(v6, 6).filter((r) => r.device !== "lo"),
  ];
}

/** Replaces the main table: flushes the families present, then adds link-scope routes first. */
export async function updateRoutes(
  runner: CommandRunner,
  routes: readonly RouteSpec[],
): Promise<RouteSpec[]> {
  const families = new Set(routes.map((r) => r.family));
  for (const f of families) await run(runner, ["ip", `-${f}`, "route", "flush", "table", "main"]);
  const ordered = [...routes].sort((a, b) => (b.scope === 253 ? 1 : 0) - (a.scope === 253 ? 1 : 0));
  for (const r of ordered) await run(runner, addRouteArgv(r));
  return await listRoutes(runner);
}

/** `ip neigh replace` (iproute2); busybox `ip` cannot add neighbours, so IPv4 falls back to `arp -s`. */
export async function addNeighbors(runner: CommandRunner, ns: readonly Neighbor[]): Promise<void> {
  for (const n of ns) {
    try {
      await run(runner, neighborArgv(n));
    } catch (e) {
      if (n.address.includes(":")) throw e;
      await run(runner, ["arp", "-i", checkName(n.device), "-s", checkAddr(n.address), n.mac.toLowerCase()]);
    }
  }
}
