/**
 * The sandbox's network: attaching the network plugin (`runtime.internetworking_model`) to the pod's
 * netns, the VM devices it returns, the guest configuration through the agent (same MAC, addresses
 * and MTU, routes, static neighbours) and the rescan that hot-plugs interfaces added to the netns
 * after start (and unplugs those gone).
 *
 * @module
 */
import type {
  AttachedDevice,
  Device,
  NetworkAttachment,
  NetworkBackend,
  NetworkEndpoint,
} from "../../plugins/types.ts";
import type { SandboxId } from "../ids.ts";
import type { GuestRoute } from "../agent_client/types.ts";
import { SandboxError } from "../errors.ts";
import { isHostNetns } from "../sys/host_netns.ts";
import { requireAgent, requireVm, type SandboxContext, saveSandbox } from "./_context.ts";
import { parseCidr } from "./cidr.ts";
import type { AgentApi } from "./agent_port.ts";

type Sig = { signal?: AbortSignal };

/** The agent calls the network setup uses. */
export type NetworkAgent = Pick<
  AgentApi,
  "listInterfaces" | "updateInterface" | "listRoutes" | "updateRoutes" | "addArpNeighbors"
>;

/** Loads the plugin, checks the host and attaches it to `netns`. */
export async function attachNetwork(
  net: NetworkBackend,
  netns: string,
  opts: { sandbox: SandboxId } & Sig,
): Promise<NetworkAttachment> {
  const sig = opts.signal ? { signal: opts.signal } : {};
  if (await isHostNetns(netnsPath(netns))) {
    throw new SandboxError(
      "InvalidArgument",
      `Cannot attach sandbox "${opts.sandbox}" to network namespace "${netns}": it is the host's own (the network model would take the host's interfaces into the VM): give the pod a namespace of its own, or none`,
    );
  }
  await net.check?.(sig);
  return withCharDevices(await net.attach(netns, { sandbox: opts.sandbox, ...sig }));
}

/**
 * Net devices backed by a character device: the macvtap model names the node of each macvtap in
 * its endpoint (`macvtap: { name, charDevice }`); the device with that tap gets `charDevice`, so the
 * hypervisor passes it as a file descriptor instead of opening a tap by name. Read, not cast.
 */
export function withCharDevices(a: NetworkAttachment): NetworkAttachment {
  const nodes = new Map<string, string>();
  for (const ep of a.endpoints) {
    const m: unknown = Reflect.get(ep, "macvtap");
    if (typeof m !== "object" || m === null) continue;
    const name: unknown = Reflect.get(m, "name");
    const node: unknown = Reflect.get(m, "charDevice");
    if (typeof name === "string" && typeof node === "string") nodes.set(name, node);
  }
  if (nodes.size === 0) return a;
  const devices = a.devices.map((d): Device => {
    const node = d.kind === "net" ? nodes.get(d.tap) : undefined;
    return d.kind === "net" && node !== undefined ? { ...d, charDevice: node } : d;
  });
  return { ...a, devices };
}

/** The routes to give the guest for `endpoints` (the netns's, without kernel-made ones). Pure. */
export function endpointRoutes(endpoints: readonly NetworkEndpoint[]): GuestRoute[] {
  return endpoints.flatMap((ep) =>
    (ep.routes ?? []).map((r) => ({
      destination: r.destination,
      gateway: r.gateway,
      device: r.device,
      source: r.source,
      scope: r.scope,
      family: r.family,
      metric: r.metric,
    }))
  );
}

/**
 * The guest's new main table: its current routes of the families being replaced (the connected
 * routes the kernel made for the new addresses: UpdateRoutes flushes the table) except those the
 * endpoints redefine, then the endpoints' routes. Pure.
 */
export function mergeRoutes(current: readonly GuestRoute[], wanted: readonly GuestRoute[]): GuestRoute[] {
  const families = new Set(wanted.map((r) => r.family));
  const key = (r: GuestRoute) => `${r.family} ${r.destination} ${r.metric ?? 0}`;
  const redefined = new Set(wanted.map(key));
  const kept = current.filter((r) => families.has(r.family) && !redefined.has(key(r)));
  return [...kept, ...wanted];
}

/**
 * Gives the guest NICs the endpoints' identity. The agent finds a NIC by name, else by MAC and
 * renames it; a guest NIC that already carries an endpoint's name with another MAC (NICs probed
 * in another order) is first moved aside to a temporary name.
 */
export async function configureGuestNetwork(
  agent: NetworkAgent,
  endpoints: readonly NetworkEndpoint[],
  opts: Sig & { timeoutMs?: number } = {},
): Promise<void> {
  if (endpoints.length === 0) return;
  const call = { ...(opts.signal ? { signal: opts.signal } : {}), timeoutMs: opts.timeoutMs ?? 30_000 };
  const guest = await agent.listInterfaces(call);
  // Guest NICs holding an endpoint's name with another MAC: renamed (found by their own MAC).
  const clash = guest.filter((g) =>
    endpoints.some((ep) => g.name === ep.name && g.mac.toLowerCase() !== ep.mac.toLowerCase())
  );
  for (const [i, g] of clash.entries()) {
    await agent.updateInterface(
      { name: `cocoon${i}`, mac: g.mac, mtu: g.mtu, up: false, addresses: [] },
      call,
    );
  }
  for (const ep of endpoints) {
    await agent.updateInterface({
      name: ep.name,
      mac: ep.mac,
      mtu: ep.mtu,
      up: true,
      addresses: ep.addresses.map(parseCidr),
    }, call);
  }
  const wanted = endpointRoutes(endpoints);
  if (wanted.length > 0) {
    await agent.updateRoutes(mergeRoutes(await agent.listRoutes(call), wanted), call);
  }
  const neighbors = endpoints.flatMap((ep) => ep.neighbors ?? []);
  if (neighbors.length > 0) {
    if (agent.addArpNeighbors === undefined) {
      throw new SandboxError(
        "Unimplemented",
        "Cannot add static neighbours: the agent client lacks AddARPNeighbors",
      );
    }
    await agent.addArpNeighbors(
      neighbors.map((n) => ({ address: parseCidr(n.address), device: n.device, mac: n.mac, state: n.state })),
      call,
    );
  }
}

/** The path of a netns given as a path or as a bare name under /var/run/netns. */
export function netnsPath(netns: string): string {
  return netns.includes("/") ? netns : `/var/run/netns/${netns}`;
}

/**
 * Undoes the plugin's work in the netns (from the netns's state: works after kill -9 and from
 * another process). A netns that is already gone (the CNI plugin's DEL ran first) took the
 * devices with it: nothing to do.
 */
export async function detachNetwork(
  ctx: SandboxContext,
  rec: { plugin: string; netns: string; attachment: NetworkAttachment },
): Promise<void> {
  const gone = await Deno.stat(netnsPath(rec.netns)).then(
    () => false,
    (e) => e instanceof Deno.errors.NotFound,
  );
  if (gone) {
    ctx.log.info("network namespace already gone, nothing to detach", { netns: rec.netns });
    return;
  }
  await (await ctx.rt.network(rec.plugin)).detach(rec.netns, rec.attachment);
}

/** Polls the guest until a NIC with each of `macs` exists (a hot-plugged NIC is probed later). */
async function waitForGuestNics(
  agent: Pick<AgentApi, "listInterfaces">,
  macs: readonly string[],
  opts: Sig & { timeoutMs: number },
): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  const want = macs.map((m) => m.toLowerCase());
  for (;;) {
    opts.signal?.throwIfAborted();
    const have = new Set((await agent.listInterfaces()).map((i) => i.mac.toLowerCase()));
    const missing = want.filter((m) => !have.has(m));
    if (missing.length === 0) return;
    if (Date.now() > deadline) {
      throw new SandboxError(
        "DeadlineExceeded",
        `Cannot configure the guest network: no guest NIC with MAC "${
          missing.join('", "')
        }" after ${opts.timeoutMs} ms`,
      );
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** What {@link rescanNetwork} changed. */
export interface NetworkRescanReport {
  /** Names of the netns interfaces now carried into the VM. */
  readonly interfaces: readonly string[];
  readonly added: readonly Device[];
  readonly removed: readonly Device[];
}

/**
 * Before a container starts: picks up interfaces added to the netns since (Docker 26+ adds the
 * veth after the task was created, moby/moby#47729, Kata #9340). Only for models that can rescan;
 * a failure is logged and the start goes on with the network as it was. Runs inside the queue.
 */
export async function rescanBeforeStart(ctx: SandboxContext, opts: Sig = {}): Promise<void> {
  const rec = ctx.record.network;
  if (rec === null) return;
  try {
    const net = await ctx.rt.network(rec.plugin);
    if (net.rescan === undefined) return;
    const r = await rescanNetwork(ctx, opts);
    if (r.added.length > 0 || r.removed.length > 0) {
      ctx.log.info("interfaces changed before start", { added: r.added.length, removed: r.removed.length });
    }
  } catch (e) {
    ctx.log.warn("network rescan before start failed", { error: e });
  }
}

/**
 * Brings the VM in line with the netns now: the plugin connects interfaces added since create (or
 * the last rescan) and drops those gone; their devices are hot-plugged / unplugged and the guest
 * configured for the new ones. Run inside the sandbox's queue (actions.ts).
 *
 * @throws {SandboxError} `FailedPrecondition` without a netns or when not ready, `Unimplemented`
 * when the network model cannot rescan.
 */
export async function rescanNetwork(ctx: SandboxContext, opts: Sig): Promise<NetworkRescanReport> {
  const id = ctx.record.id;
  const agent = requireAgent(ctx, "rescan the network");
  const vm = requireVm(ctx, "rescan the network of");
  const rec = ctx.record.network;
  if (rec === null) {
    throw new SandboxError(
      "FailedPrecondition",
      `Cannot rescan the network of sandbox "${id}": it has no network namespace`,
    );
  }
  const net = await ctx.rt.network(rec.plugin);
  if (net.rescan === undefined) {
    throw new SandboxError(
      "Unimplemented",
      `Cannot rescan the network of sandbox "${id}": network model "${rec.plugin}" cannot rescan`,
    );
  }
  const sig = opts.signal ? { signal: opts.signal } : {};
  const r = await net.rescan(rec.netns, rec.attachment, { sandbox: id, ...sig });
  const attachment = withCharDevices(r.attachment);
  const addedIds = new Set(r.added.map((d) => d.id));
  const added = attachment.devices.filter((d) => addedIds.has(d.id));
  for (const d of r.removed) {
    const gone: AttachedDevice = { device: d };
    await vm.removeDevice(gone).catch((e) =>
      ctx.log.warn("net device unplug failed", { device: d.id, error: e })
    );
  }
  const plugged: Device[] = [];
  try {
    for (const d of added) {
      await vm.addDevice(d);
      plugged.push(d);
    }
  } finally {
    // What is plugged is recorded even when a later step fails, so delete sees it.
    const devices = attachment.devices.filter((d) => !addedIds.has(d.id) || plugged.includes(d));
    await saveSandbox(ctx, { ...ctx.record, network: { ...rec, attachment: { ...attachment, devices } } });
  }
  const fresh = attachment.endpoints.filter((ep) =>
    !rec.attachment.endpoints.some((old) => old.name === ep.name && old.mac === ep.mac)
  );
  if (fresh.length > 0) {
    await waitForGuestNics(agent, fresh.map((ep) => ep.mac), { timeoutMs: 30_000, ...sig });
    await configureGuestNetwork(agent, fresh, sig);
  }
  ctx.log.info("network rescanned", {
    plugin: rec.plugin,
    added: added.map((d) => d.id),
    removed: r.removed.map((d) => d.id),
  });
  return { interfaces: attachment.endpoints.map((e) => e.name), added, removed: r.removed };
}
