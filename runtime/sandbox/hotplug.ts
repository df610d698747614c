/**
 * Hot-plug of block devices (image files, block devices) and NICs on a running VM, as sandbox
 * actions (actions.ts). What is plugged is kept in the sandbox's record (`hotplugged`), so any
 * later holder of the sandbox can list and unplug it, and delete removes the taps made here.
 *
 * A NIC is a host tap device connected to a virtio-net device; the agent then names and addresses
 * the new guest interface, found by its MAC. A tap made here is named from the sandbox id (`ck` +
 * 8 + 4 hex digits), so that whatever is left of it can be found.
 *
 * @module
 */
import type { Device } from "../../plugins/types.ts";
import type { GuestInterface } from "../agent_client/types.ts";
import { parseCidr } from "./cidr.ts";
import { isRuntimeError, SandboxError, toRuntimeError } from "../errors.ts";
import { deviceId, macAddress } from "../ids.ts";
import { hostNetSys, runInNetns, runOnHost } from "../sys/ip_command.ts";
import { requireAgent, requireVm, type SandboxContext, saveSandbox } from "./_context.ts";
import type { Hotplugged, PluggedBlock, PluggedNic } from "./records.ts";

/** A block device to plug. */
export interface PlugBlock {
  /** Device id (default: a random `blk-xxxxxxxx`). */
  readonly id?: string;
  /** Absolute host path: a block device or a raw image file. */
  readonly path: string;
  readonly readOnly?: boolean;
  /** Default: the configuration's `block_device_driver`. */
  readonly driver?: "virtio-blk" | "virtio-scsi";
}

/** A NIC to plug. */
export interface PlugNic {
  /** Interface name in the guest (`eth1`). */
  readonly name: string;
  /** Default: random, locally administered. */
  readonly mac?: string;
  /** Default 1500. */
  readonly mtu?: number;
  /** CIDR addresses (`10.0.0.2/24`). */
  readonly addresses?: readonly string[];
  /** An existing tap to connect; absent: one is made where the VMM runs, and removed with the NIC. */
  readonly tap?: string;
}

const NONE: Hotplugged = { devices: [], nics: [] };

function plugged(ctx: SandboxContext): Hotplugged {
  return ctx.record.hotplugged ?? NONE;
}

async function save(ctx: SandboxContext, next: Hotplugged): Promise<void> {
  await saveSandbox(ctx, { ...ctx.record, hotplugged: next });
}

/** Plugs a block device or image file. Runs in the sandbox's queue. */
export async function plugBlock(ctx: SandboxContext, cfg: PlugBlock): Promise<PluggedBlock> {
  const id = cfg.id ?? `blk-${crypto.randomUUID().slice(0, 8)}`;
  const st = await Deno.stat(cfg.path).catch((e) => {
    if (!(e instanceof Deno.errors.NotFound)) throw toRuntimeError(e, `Cannot add device "${id}"`);
    throw new SandboxError("NotFound", `Cannot add device "${id}": "${cfg.path}" does not exist`, {
      cause: e,
    });
  });
  if (!(st.isFile || st.isBlockDevice === true)) {
    throw new SandboxError(
      "InvalidArgument",
      `Cannot add device "${id}": "${cfg.path}" is neither a block device nor a file`,
    );
  }
  const state = plugged(ctx);
  if (state.devices.some((d) => d.id === id)) {
    throw new SandboxError("AlreadyExists", `Cannot add device "${id}": a device with this id is plugged`);
  }
  const driver = cfg.driver ??
    (ctx.rt.config.hypervisor.blockDeviceDriver === "virtio-scsi" ? "virtio-scsi" : "virtio-blk");
  const device = {
    kind: "block",
    id: deviceId(id),
    path: cfg.path,
    readOnly: cfg.readOnly ?? false,
    driver,
  } as const;
  const att = await requireVm(ctx, "add a device to").addDevice(device);
  const info: PluggedBlock = { ...device, id, guestAddress: att.guestAddress ?? null };
  await save(ctx, { ...state, devices: [...state.devices, info] });
  return info;
}

/** Unplugs a device added by {@link plugBlock}. Runs in the sandbox's queue. */
export async function unplugBlock(ctx: SandboxContext, id: string): Promise<void> {
  const state = plugged(ctx);
  const d = state.devices.find((x) => x.id === id);
  if (d === undefined) {
    throw new SandboxError("NotFound", `Cannot remove device "${id}": no such hot-plugged device`);
  }
  const { guestAddress, ...block } = d;
  await requireVm(ctx, "remove a device from").removeDevice({
    device: { ...block, id: deviceId(d.id) },
    ...(guestAddress !== null ? { guestAddress } : {}),
  });
  await save(ctx, { ...state, devices: state.devices.filter((x) => x.id !== id) });
}

// NICs -------------------------------------------------------------------------------------------

function hash(s: string, bytes: number): string {
  let h = 0x811c9dc5;
  for (const c of new TextEncoder().encode(s)) h = Math.imul(h ^ c, 0x01000193) >>> 0;
  return h.toString(16).padStart(8, "0").slice(0, bytes * 2);
}

/** Prefix of the taps made for sandbox `id` (`ck` + 8 hex digits). Pure. */
export function tapPrefix(id: string): string {
  return `ck${hash(id, 4)}`;
}

/** The tap made for interface `name` of sandbox `id` (14 characters). Pure. */
export function tapName(id: string, name: string): string {
  return `${tapPrefix(id)}${hash(name, 2)}`;
}

function randomMac(): string {
  const b = crypto.getRandomValues(new Uint8Array(6));
  b[0] = ((b[0] ?? 0) & 0xfe) | 0x02; // unicast, locally administered
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join(":");
}

/** Runs `ip` where the VMM runs: the sandbox's network namespace, or the host's. */
const ip = (netns: string | undefined, args: string[], what: string) =>
  netns === undefined
    ? runOnHost(hostNetSys(), "ip", args, { what })
    : runInNetns(hostNetSys(), netns, "ip", args, { what });

/** Plugs a NIC and configures it in the guest; undoes every step on failure. Runs in the queue. */
export async function plugNic(ctx: SandboxContext, cfg: PlugNic): Promise<GuestInterface> {
  const what = `Cannot add interface "${cfg.name}" to sandbox "${ctx.record.id}"`;
  const addresses = (cfg.addresses ?? []).map(parseCidr);
  const mac = macAddress(cfg.mac ?? randomMac());
  const mtu = cfg.mtu ?? 1500;
  const state = plugged(ctx);
  if (state.nics.some((n) => n.name === cfg.name)) {
    throw new SandboxError("AlreadyExists", `${what}: it was added before`);
  }
  const nic: PluggedNic = {
    name: cfg.name,
    id: `nic-${cfg.name}`,
    tap: cfg.tap ?? tapName(ctx.record.id, cfg.name),
    ownedTap: cfg.tap === undefined,
    mac,
    mtu,
  };
  const undo: (() => Promise<unknown>)[] = [];
  const netns = ctx.record.network?.netns;
  try {
    if (nic.ownedTap) {
      await ip(netns, ["tuntap", "add", "dev", nic.tap, "mode", "tap"], what);
      undo.push(() => ip(netns, ["link", "del", nic.tap], what));
      await ip(netns, ["link", "set", "dev", nic.tap, "mtu", String(mtu), "up"], what);
    }
    const vm = requireVm(ctx, "add an interface to");
    const att = await vm.addDevice({ kind: "net", id: deviceId(nic.id), tap: nic.tap, mac, mtu });
    undo.push(() => vm.removeDevice(att));
    const iface = await updateWhenSeen(ctx, { name: cfg.name, mac, mtu, up: true, addresses });
    await save(ctx, { ...state, nics: [...state.nics, nic] });
    return iface;
  } catch (e) {
    for (const u of undo.reverse()) await u().catch(() => {});
    throw e;
  }
}

/** The guest needs a moment to probe a hot-plugged NIC: retry while the agent cannot find it. */
async function updateWhenSeen(ctx: SandboxContext, iface: GuestInterface): Promise<GuestInterface> {
  const deadline = Date.now() + 20_000;
  while (true) {
    try {
      return await requireAgent(ctx, "update an interface").updateInterface(iface);
    } catch (e) {
      // the agent answers NotFound (agent/network/ip.ts) until the guest has probed the NIC
      const notYet = isRuntimeError(e) && e.code === "NotFound";
      if (!notYet || Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/** Unplugs a NIC added by {@link plugNic} and removes its tap when made here. Runs in the queue. */
export async function unplugNic(ctx: SandboxContext, name: string): Promise<void> {
  const state = plugged(ctx);
  const nic = state.nics.find((n) => n.name === name);
  if (nic === undefined) {
    throw new SandboxError("NotFound", `Cannot remove interface "${name}": it was not hot-plugged`);
  }
  const device: Device = {
    kind: "net",
    id: deviceId(nic.id),
    tap: nic.tap,
    mac: macAddress(nic.mac),
    mtu: nic.mtu,
  };
  await requireVm(ctx, "remove an interface from").removeDevice({ device });
  if (nic.ownedTap) {
    await ip(ctx.record.network?.netns, ["link", "del", nic.tap], `Cannot remove tap "${nic.tap}"`);
  }
  await save(ctx, { ...state, nics: state.nics.filter((n) => n.name !== name) });
}

/** Removes the taps made here that are left (delete, after the VM stopped); one already gone is fine. */
export async function removeOwnedTaps(ctx: SandboxContext): Promise<void> {
  const netns = ctx.record.network?.netns;
  for (const n of plugged(ctx).nics) {
    if (!n.ownedTap) continue;
    const there = await ip(netns, ["link", "show", "dev", n.tap], `Cannot find tap "${n.tap}"`).then(
      () => true,
      () => false,
    );
    if (there) await ip(netns, ["link", "del", n.tap], `Cannot remove tap "${n.tap}"`);
  }
}
