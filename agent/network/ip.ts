/**
 * Guest networking with iproute2 (`ip -j` JSON output for listing; argv builders for changes).
 * The argv builders and JSON parsers are pure; running goes through the command runner.
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

/** Parses `ip -j addr show`. Pure; tolerates missing fields, skips malformed entries. */
export function parseIpAddr(json: string): Iface[] {
  const v: unknown = JSON.parse(json);
  if (!Array.isArray(v)) throw new RuntimeError("Internal", "Cannot parse ip -j addr output: not an array");
  const out: Iface[] = [];
  for (const e of v) {
    if (typeof e !== "object" || e === null) continue;
    const name = Reflect.get(e, "ifname");
    if (typeof name !== "string") continue;
    const mac = Reflect.get(e, "address");
    const mtu = Reflect.get(e, "mtu");
    const flags = Reflect.get(e, "flags");
    const infos = Reflect.get(e, "addr_info");
    const addresses: IfaceAddress[] = [];
    if (Array.isArray(infos)) {
      for (const i of infos) {
        if (typeof i !== "object" || i === null) continue;
        const fam = Reflect.get(i, "family");
        const local = Reflect.get(i, "local");
        const prefix = Reflect.get(i, "prefixlen");
        if (typeof local !== "string" || typeof prefix !== "number") continue;
        addresses.push({ family: fam === "inet6" ? 6 : 4, address: local, prefix });
      }
    }
    out.push({
      name,
      mac: typeof mac === "string" ? mac : "",
      mtu: typeof mtu === "number" ? mtu : 0,
      up: Array.isArray(flags) && flags.includes("UP"),
      addresses,
    });
  }
  return out;
}

/** Parses `ip -j route show`. Pure. */
export function parseIpRoute(json: string, family: Family): RouteSpec[] {
  const v: unknown = JSON.parse(json);
  if (!Array.isArray(v)) throw new RuntimeError("Internal", "Cannot parse ip -j route output: not an array");
  const out: RouteSpec[] = [];
  const SCOPES: Record<string, number> = { universe: 0, global: 0, link: 253, host: 254 };
  for (const e of v) {
    if (typeof e !== "object" || e === null) continue;
    const dst = Reflect.get(e, "dst");
    const str = (k: string) => {
      const x = Reflect.get(e, k);
      return typeof x === "string" ? x : "";
    };
    const scope = Reflect.get(e, "scope");
    const metric = Reflect.get(e, "metric");
    out.push({
      destination: dst === "default" || typeof dst !== "string" ? "" : dst,
      gateway: str("gateway"),
      device: str("dev"),
      source: str("prefsrc"),
      scope: typeof scope === "string" ? SCOPES[scope] ?? 0 : 0,
      family,
      metric: typeof metric === "number" ? metric : 0,
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

export async function listInterfaces(runner: CommandRunner): Promise<Iface[]> {
  return parseIpAddr(await run(runner, ["ip", "-j", "addr", "show"]));
}

/** Applies `iface`; when its name is unknown, the interface with its MAC address is renamed first. */
export async function updateInterface(runner: CommandRunner, iface: Iface): Promise<Iface> {
  const current = await listInterfaces(runner);
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
  const after = (await listInterfaces(runner)).find((i) => i.name === iface.name);
  if (!after) throw new RuntimeError("Internal", `Cannot find interface "${iface.name}" after updating it`);
  return after;
}

export async function listRoutes(runner: CommandRunner): Promise<RouteSpec[]> {
  return [
    ...parseIpRoute(await run(runner, ["ip", "-j", "-4", "route", "show"]), 4),
    ...parseIpRoute(await run(runner, ["ip", "-j", "-6", "route", "show"]), 6).filter((r) =>
      r.device !== "lo"
    ),
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

export async function addNeighbors(runner: CommandRunner, ns: readonly Neighbor[]): Promise<void> {
  for (const n of ns) await run(runner, neighborArgv(n));
}
