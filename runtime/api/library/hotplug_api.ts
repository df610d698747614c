/**
 * Hot-plug of the library API: block devices (image files, block devices) and NICs on a running
 * VM. What is plugged is written to `<sandbox dir>/hotplug.json`, so another process that fetches
 * the sandbox can unplug it; the file goes with the sandbox directory on delete.
 *
 * A NIC is a host tap device connected to a virtio-net device (QMP netdev_add + device_add); the
 * agent then names and addresses the new guest interface, found by its MAC. A tap the library
 * creates is named from the sandbox id (`ck` + 8 + 4 hex digits) so that delete, in any process,
 * removes the ones left.
 *
 * @module
 */
import * as v from "valibot";
import type { Device } from "../../../plugins/types.ts";
import { isRuntimeError, SandboxError, toRuntimeError } from "../../errors.ts";
import { deviceId, macAddress } from "../../ids.ts";
import type { Sandbox as CoreSandbox } from "../../sandbox/sandbox.ts";
import { hostNetSys, runInNetns, runOnHost } from "../../sys/ip_command.ts";
import type { DeviceConfig, DeviceInfo, InterfaceConfig, IpAddress, NetworkInterface } from "./types.ts";
import { writeAtomic } from "../../sys/files.ts";

const NicSchema = v.object({
  name: v.string(),
  id: v.string(),
  tap: v.string(),
  ownedTap: v.boolean(),
  mac: v.string(),
  mtu: v.number(),
});
const BlockSchema = v.object({
  kind: v.literal("block"),
  id: v.string(),
  path: v.string(),
  readOnly: v.boolean(),
  driver: v.picklist(["virtio-blk", "virtio-scsi"]),
  guestAddress: v.nullable(v.string()),
});
const StateSchema = v.object({ devices: v.array(BlockSchema), nics: v.array(NicSchema) });
type HotplugState = v.InferOutput<typeof StateSchema>;
type Nic = v.InferOutput<typeof NicSchema>;

const statePath = (sb: CoreSandbox) => `${sb.record.dir}/hotplug.json`;

async function readState(sb: CoreSandbox): Promise<HotplugState> {
  let text: string;
  try {
    text = await Deno.readTextFile(statePath(sb));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return { devices: [], nics: [] };
    throw e;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new SandboxError("DataLoss", `Cannot read "${statePath(sb)}": it is not JSON`, { cause: e });
  }
  const r = v.safeParse(StateSchema, json);
  if (!r.success) {
    throw new SandboxError(
      "DataLoss",
      `Cannot read "${statePath(sb)}": ${r.issues[0]?.message ?? "malformed"}`,
    );
  }
  return r.output;
}

async function writeState(sb: CoreSandbox, s: HotplugState): Promise<void> {
  await writeAtomic(statePath(sb), JSON.stringify(s));
}

/** Hot-plugs a block device or image file. */
export async function addBlockDevice(
  sb: CoreSandbox,
  cfg: DeviceConfig,
  defaultDriver: string,
): Promise<DeviceInfo> {
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
  const state = await readState(sb);
  if (state.devices.some((d) => d.id === id)) {
    throw new SandboxError("AlreadyExists", `Cannot add device "${id}": a device with this id is plugged`);
  }
  const driver = cfg.driver ?? (defaultDriver === "virtio-scsi" ? "virtio-scsi" : "virtio-blk");
  const readOnly = cfg.readOnly ?? false;
  const att = await sb.act({
    kind: "add-device",
    device: { kind: "block", id: deviceId(id), path: cfg.path, readOnly, driver },
  });
  const info: DeviceInfo = {
    kind: "block",
    id,
    path: cfg.path,
    readOnly,
    driver,
    guestAddress: att.guestAddress ?? null,
  };
  await writeState(sb, { ...state, devices: [...state.devices, info] });
  return info;
}

/** Unplugs a device added by {@link addBlockDevice} (in this process or another). */
export async function removeBlockDevice(sb: CoreSandbox, id: string): Promise<void> {
  const state = await readState(sb);
  const d = state.devices.find((x) => x.id === id);
  if (d === undefined) {
    throw new SandboxError("NotFound", `Cannot remove device "${id}": no such hot-plugged device`);
  }
  const device: Device = {
    kind: "block",
    id: deviceId(d.id),
    path: d.path,
    readOnly: d.readOnly,
    driver: d.driver,
  };
  await sb.act({
    kind: "remove-device",
    device: { device, ...(d.guestAddress !== null ? { guestAddress: d.guestAddress } : {}) },
  });
  await writeState(sb, { ...state, devices: state.devices.filter((x) => x.id !== id) });
}

/** The devices hot-plugged through the library and still plugged. */
export async function listBlockDevices(sb: CoreSandbox): Promise<DeviceInfo[]> {
  return (await readState(sb)).devices;
}

// NICs -------------------------------------------------------------------------------------------

function hash(s: string, bytes: number): string {
  let h = 0x811c9dc5;
  for (const c of new TextEncoder().encode(s)) h = Math.imul(h ^ c, 0x01000193) >>> 0;
  return h.toString(16).padStart(8, "0").slice(0, bytes * 2);
}

/** Prefix of the taps the library makes for sandbox `id` (`ck` + 8 hex digits). Pure. */
export function tapPrefix(id: string): string {
  return `ck${hash(id, 4)}`;
}

/** The tap the library makes for interface `name` of sandbox `id` (14 characters). Pure. */
export function tapName(id: string, name: string): string {
  return `${tapPrefix(id)}${hash(name, 2)}`;
}

function randomMac(): string {
  const b = crypto.getRandomValues(new Uint8Array(6));
  b[0] = ((b[0] ?? 0) & 0xfe) | 0x02; // unicast, locally administered
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join(":");
}

/** Parses `10.0.0.2/24` (or a bare address: /32, /128). Pure. */
export function parseCidr(cidr: string): IpAddress {
  const [address = "", p] = cidr.split("/");
  const family = address.includes(":") ? 6 : 4;
  const max = family === 4 ? 32 : 128;
  const prefix = p === undefined ? max : Number(p);
  const ok = family === 4
    ? /^\d{1,3}(\.\d{1,3}){3}$/.test(address) && address.split(".").every((o) => Number(o) <= 255)
    : /^[0-9a-fA-F:]+$/.test(address);
  if (!ok || !Number.isInteger(prefix) || prefix < 0 || prefix > max) {
    throw new SandboxError(
      "InvalidArgument",
      `Invalid address "${cidr.slice(0, 60)}": expected CIDR notation`,
    );
  }
  return { family, address, prefix };
}

/** Runs `ip` where the VMM runs: the sandbox's network namespace, or the host's. */
const ip = (netns: string | undefined, args: string[], what: string) =>
  netns === undefined
    ? runOnHost(hostNetSys(), "ip", args, { what })
    : runInNetns(hostNetSys(), netns, "ip", args, { what });

/** The network namespace the sandbox's VMM runs in, if any. */
export function vmmNetns(sb: CoreSandbox): string | undefined {
  return sb.record.network?.netns;
}

/** Hot-plugs a NIC and configures it in the guest; undoes every step on failure. */
export async function addNic(sb: CoreSandbox, cfg: InterfaceConfig): Promise<NetworkInterface> {
  const what = `Cannot add interface "${cfg.name}" to sandbox "${sb.id}"`;
  const addresses = (cfg.addresses ?? []).map(parseCidr);
  const mac = macAddress(cfg.mac ?? randomMac());
  const mtu = cfg.mtu ?? 1500;
  const state = await readState(sb);
  if (state.nics.some((n) => n.name === cfg.name)) {
    throw new SandboxError("AlreadyExists", `${what}: it was added before`);
  }
  const nic: Nic = {
    name: cfg.name,
    id: `nic-${cfg.name}`,
    tap: cfg.tap ?? tapName(sb.id, cfg.name),
    ownedTap: cfg.tap === undefined,
    mac,
    mtu,
  };
  const undo: (() => Promise<unknown>)[] = [];
  const netns = vmmNetns(sb);
  try {
    if (nic.ownedTap) {
      await ip(netns, ["tuntap", "add", "dev", nic.tap, "mode", "tap"], what);
      undo.push(() => ip(netns, ["link", "del", nic.tap], what));
      await ip(netns, ["link", "set", "dev", nic.tap, "mtu", String(mtu), "up"], what);
    }
    const device: Device = { kind: "net", id: deviceId(nic.id), tap: nic.tap, mac, mtu };
    const att = await sb.act({ kind: "add-device", device });
    undo.push(() => sb.act({ kind: "remove-device", device: att }));
    const iface = await updateWhenSeen(sb, { name: cfg.name, mac, mtu, up: true, addresses });
    await writeState(sb, { ...state, nics: [...state.nics, nic] });
    return iface;
  } catch (e) {
    for (const u of undo.reverse()) await u().catch(() => {});
    throw e;
  }
}

/** The guest needs a moment to probe a hot-plugged NIC: retry while the agent cannot find it. */
async function updateWhenSeen(sb: CoreSandbox, iface: NetworkInterface): Promise<NetworkInterface> {
  const deadline = Date.now() + 20_000;
  while (true) {
    try {
      return await sb.act({ kind: "update-interface", iface });
    } catch (e) {
      // the agent answers NotFound (agent/network/ip.ts) until the guest has probed the NIC
      const notYet = isRuntimeError(e) && e.code === "NotFound";
      if (!notYet || Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/** Unplugs a NIC added by {@link addNic} and removes its tap when the library made it. */
export async function removeNic(sb: CoreSandbox, name: string): Promise<void> {
  const state = await readState(sb);
  const nic = state.nics.find((n) => n.name === name);
  if (nic === undefined) {
    throw new SandboxError(
      "NotFound",
      `Cannot remove interface "${name}": it was not added through the library`,
    );
  }
  const device: Device = {
    kind: "net",
    id: deviceId(nic.id),
    tap: nic.tap,
    mac: macAddress(nic.mac),
    mtu: nic.mtu,
  };
  await sb.act({ kind: "remove-device", device: { device } });
  if (nic.ownedTap) await ip(vmmNetns(sb), ["link", "del", nic.tap], `Cannot remove tap "${nic.tap}"`);
  await writeState(sb, { ...state, nics: state.nics.filter((n) => n.name !== name) });
}

/** The taps the library made for the sandbox and has not removed (read before delete). */
export async function ownedTaps(sb: CoreSandbox): Promise<string[]> {
  return (await readState(sb).catch(() => ({ devices: [], nics: [] as Nic[] }))).nics
    .filter((n) => n.ownedTap).map((n) => n.tap);
}

/** Removes `taps` (in `netns`, else on the host); a tap already gone is fine. */
export async function removeTaps(taps: readonly string[], netns: string | undefined): Promise<void> {
  for (const tap of taps) {
    const there = await ip(netns, ["link", "show", "dev", tap], `Cannot find tap "${tap}"`).then(
      () => true,
      () => false,
    );
    if (there) await ip(netns, ["link", "del", tap], `Cannot remove tap "${tap}"`);
  }
}
