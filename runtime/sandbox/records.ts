/**
 * What is persisted about sandboxes and containers, and the validation of records read back from
 * the metadata store (the store returns `unknown`: a record is never cast, it is parsed here).
 *
 * Keys: `sandboxes/<sid>` (SandboxRecord), `sandboxes/<sid>/containers/<cid>` (ContainerRecord),
 * `containers/<cid>` (ContainerIndex: which sandbox holds a container id).
 *
 * @module
 */
import * as v from "valibot";
import type { Device, GuestStorage, NetworkAttachment, VmState } from "../../plugins/types.ts";
import { SandboxError } from "../errors.ts";
import { type ContainerId, containerId, deviceId, macAddress, type SandboxId, sandboxId } from "../ids.ts";
import type { ContainerStatus, ProcessStatus, SandboxStatus } from "./status.ts";

const RECORD_SCHEMA = 1;

/** Sandbox-wide storage a storage plugin prepared before boot (the shared directory). */
export interface PreparedStorage {
  readonly plugin: string;
  readonly devices: readonly Device[];
  readonly storages: readonly GuestStorage[];
  /** Plugin-owned data needed to release it (virtiofsd pid, host paths...). */
  readonly state: Readonly<Record<string, unknown>>;
}

export interface SandboxRecord {
  readonly schema: 1;
  readonly id: SandboxId;
  readonly createdAt: string;
  readonly status: SandboxStatus;
  /** Host directory owned by the sandbox: `<runtime.state_dir>/sandboxes/<id>`. */
  readonly dir: string;
  readonly hypervisor: string;
  /** Null until the VM was started. */
  readonly vm: VmState | null;
  readonly vcpus: number;
  readonly memoryMiB: number;
  readonly agentTimeoutSeconds: number;
  /** Network namespace the VM is attached to, and by which plugin. */
  readonly network: {
    readonly plugin: string;
    readonly netns: string;
    readonly attachment: NetworkAttachment;
  } | null;
  readonly prepared: readonly PreparedStorage[];
  readonly annotations: Readonly<Record<string, string>>;
  /** Host cgroup directories Cocoon made for the pod's host processes (removed with the sandbox). */
  readonly hostCgroups?: readonly string[];
  /**
   * The process that holds the VM and answers for the sandbox's actions, written by that process
   * when it creates or attaches the sandbox and cleared when it releases it. Absent or null: none
   * (a process that died counts as none too: its pid and start time no longer match).
   */
  readonly owner?: SandboxOwnerRecord | null;
  /**
   * Who holds the sandbox whenever no program does: "daemon" for a library sandbox created with
   * `owner: "daemon"` (a program's release hands it to `cocoon daemon`, which also takes it over
   * when the program dies). Absent: nobody (the sandbox waits, ownerless, for its next holder).
   */
  readonly keeper?: "daemon";
  /** Devices and NICs hot-plugged into the running VM (hotplug.ts); absent: none. */
  readonly hotplugged?: Hotplugged;
}

/** A block device plugged into the running VM. */
export interface PluggedBlock {
  readonly kind: "block";
  readonly id: string;
  readonly path: string;
  readonly readOnly: boolean;
  readonly driver: "virtio-blk" | "virtio-scsi";
  /** Where the guest sees it (PCI address, or `scsi:<pci>:<id>`). */
  readonly guestAddress: string | null;
}

/** A NIC plugged into the running VM, on `tap` (made by Cocoon when `ownedTap`). */
export interface PluggedNic {
  readonly name: string;
  readonly id: string;
  readonly tap: string;
  readonly ownedTap: boolean;
  readonly mac: string;
  readonly mtu: number;
}

export interface Hotplugged {
  readonly devices: readonly PluggedBlock[];
  readonly nics: readonly PluggedNic[];
}

/** Who holds a sandbox: the host daemon, an OCI container's holder, or a program using mod.ts. */
export type SandboxOwnerRecord =
  /** `cocoon daemon`: its management API socket takes the sandbox's actions. */
  | { readonly kind: "daemon"; readonly pid: number; readonly startTime: string; readonly api: string }
  /** An OCI-CLI container's holder: its control socket. */
  | { readonly kind: "holder"; readonly pid: number; readonly startTime: string; readonly socket: string }
  /** A program that imported mod.ts: it must release the sandbox before anyone else acts on it. */
  | { readonly kind: "program"; readonly pid: number; readonly startTime: string };

/** A storage shared for one container (its rootfs, a bind mount, a volume). */
export interface SharedStorage {
  readonly plugin: string;
  readonly storage: GuestStorage;
}

export interface ExecRecord {
  readonly id: string;
  readonly terminal: boolean;
  readonly status: ProcessStatus;
}

export interface ContainerRecord {
  readonly schema: 1;
  readonly id: ContainerId;
  readonly sandboxId: SandboxId;
  readonly createdAt: string;
  readonly status: ContainerStatus;
  /** OCI bundle directory on the host, when the container came from one. */
  readonly bundle: string | null;
  /** Host rootfs path as given. */
  readonly rootfs: string;
  readonly terminal: boolean;
  readonly storages: readonly SharedStorage[];
  readonly execs: Readonly<Record<string, ExecRecord>>;
  readonly annotations: Readonly<Record<string, string>>;
}

export interface ContainerIndex {
  readonly schema: 1;
  readonly sandboxId: SandboxId;
}

// Schemas -----------------------------------------------------------------------------------------

const str = v.string();
const int = v.pipe(v.number(), v.integer());
const exitStatus = v.nullable(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(255)));
const strRecord = v.record(v.string(), v.string());

const SandboxStatusSchema = v.variant("kind", [
  v.object({ kind: v.literal("creating"), since: str }),
  v.object({ kind: v.literal("ready"), startedAt: str }),
  v.object({ kind: v.literal("paused"), startedAt: str, pausedAt: str }),
  v.object({ kind: v.literal("stopped"), stoppedAt: str, reason: str }),
]);

const ContainerStatusSchema = v.variant("kind", [
  v.object({ kind: v.literal("creating"), since: str }),
  v.object({ kind: v.literal("created"), pid: int }),
  v.object({ kind: v.literal("running"), pid: int, startedAt: str }),
  v.object({ kind: v.literal("paused"), pid: int, startedAt: str }),
  v.object({ kind: v.literal("stopped"), pid: int, exitStatus, exitedAt: str }),
]);

const ProcessStatusSchema = v.variant("kind", [
  v.object({ kind: v.literal("running"), pid: int, startedAt: str }),
  v.object({ kind: v.literal("exited"), pid: int, exitStatus, exitedAt: str }),
]);

const DeviceIdSchema = v.pipe(str, v.check((s) => s.length > 0));

const DeviceSchema = v.variant("kind", [
  v.object({
    kind: v.literal("block"),
    id: DeviceIdSchema,
    path: str,
    readOnly: v.boolean(),
    driver: v.picklist(["virtio-blk", "virtio-scsi", "nvdimm"]),
    sizeBytes: v.exactOptional(int),
  }),
  v.object({
    kind: v.literal("net"),
    id: DeviceIdSchema,
    tap: str,
    mac: str,
    mtu: int,
    charDevice: v.optional(str),
  }),
  v.object({ kind: v.literal("vsock"), id: DeviceIdSchema, cid: int }),
  v.object({
    kind: v.literal("share-fs"),
    id: DeviceIdSchema,
    tag: str,
    source: str,
    transport: v.picklist(["9p", "virtio-fs"]),
    readOnly: v.optional(v.boolean()),
    socket: v.optional(str),
  }),
  v.object({ kind: v.literal("vfio"), id: DeviceIdSchema, bdf: str }),
]);

const GuestStorageSchema = v.object({
  driver: str,
  source: str,
  fstype: str,
  options: v.array(str),
  mountPoint: str,
  devices: v.array(DeviceSchema),
});

const AgentAddressSchema = v.variant("kind", [
  v.object({ kind: v.literal("vsock"), cid: int, port: int }),
  v.object({ kind: v.literal("unix"), path: str }),
]);

const VmStateSchema = v.object({
  id: str,
  hypervisor: str,
  pid: int,
  stateDir: str,
  qmpSocket: v.optional(str),
  agent: AgentAddressSchema,
  extra: v.optional(v.record(v.string(), v.unknown())),
});

const family = v.picklist([4, 6]);
const NetworkAttachmentSchema = v.object({
  // Loose: plugins keep their own data in an endpoint (the macvtap model's device node), which they
  // read back at detach.
  endpoints: v.array(v.looseObject({
    name: str,
    mac: str,
    mtu: int,
    addresses: v.array(str),
    routes: v.optional(v.array(v.object({
      destination: v.string(),
      gateway: v.string(),
      device: v.string(),
      source: v.string(),
      scope: int,
      family,
      metric: int,
    }))),
    neighbors: v.optional(v.array(v.object({ address: str, device: str, mac: str, state: int }))),
  })),
  devices: v.array(DeviceSchema),
});

const SandboxRecordSchema = v.object({
  schema: v.literal(RECORD_SCHEMA),
  id: str,
  createdAt: str,
  status: SandboxStatusSchema,
  dir: str,
  hypervisor: str,
  vm: v.nullable(VmStateSchema),
  vcpus: int,
  memoryMiB: int,
  agentTimeoutSeconds: int,
  network: v.nullable(v.object({ plugin: str, netns: str, attachment: NetworkAttachmentSchema })),
  prepared: v.array(v.object({
    plugin: str,
    devices: v.array(DeviceSchema),
    storages: v.array(GuestStorageSchema),
    state: v.record(v.string(), v.unknown()),
  })),
  annotations: strRecord,
  hostCgroups: v.optional(v.array(str)),
  owner: v.optional(v.nullable(v.variant("kind", [
    v.object({ kind: v.literal("daemon"), pid: int, startTime: str, api: str }),
    v.object({ kind: v.literal("holder"), pid: int, startTime: str, socket: str }),
    v.object({ kind: v.literal("program"), pid: int, startTime: str }),
  ]))),
  keeper: v.optional(v.literal("daemon")),
  hotplugged: v.optional(v.object({
    devices: v.array(v.object({
      kind: v.literal("block"),
      id: str,
      path: str,
      readOnly: v.boolean(),
      driver: v.picklist(["virtio-blk", "virtio-scsi"]),
      guestAddress: v.nullable(str),
    })),
    nics: v.array(v.object({ name: str, id: str, tap: str, ownedTap: v.boolean(), mac: str, mtu: int })),
  })),
});

const ContainerRecordSchema = v.object({
  schema: v.literal(RECORD_SCHEMA),
  id: str,
  sandboxId: str,
  createdAt: str,
  status: ContainerStatusSchema,
  bundle: v.nullable(str),
  rootfs: str,
  terminal: v.boolean(),
  storages: v.array(v.object({ plugin: str, storage: GuestStorageSchema })),
  execs: v.record(v.string(), v.object({ id: str, terminal: v.boolean(), status: ProcessStatusSchema })),
  annotations: strRecord,
});

const ContainerIndexSchema = v.object({ schema: v.literal(RECORD_SCHEMA), sandboxId: str });

function parse<S extends v.GenericSchema>(schema: S, value: unknown, what: string): v.InferOutput<S> {
  const r = v.safeParse(schema, value);
  if (!r.success) {
    const issue = r.issues[0];
    const path = issue?.path?.map((p) => String(p.key)).join(".") ?? "";
    throw new SandboxError(
      "DataLoss",
      `Cannot read ${what}: the stored record is malformed${path ? ` at "${path}"` : ""}: ${
        issue?.message ?? "invalid"
      }`,
    );
  }
  return r.output;
}

/** Validates a stored sandbox record (ids re-validated through their smart constructors). */
export function parseSandboxRecord(value: unknown, what: string): SandboxRecord {
  const { hostCgroups, owner, keeper, hotplugged, ...r } = parse(SandboxRecordSchema, value, what);
  // Devices and MACs inside are plugin data: validated for shape above and handed back to plugins.
  return {
    ...r,
    id: sandboxId(r.id),
    vm: r.vm === null ? null : vmState(r.vm),
    ...brandDevices(r),
    ...(hostCgroups !== undefined ? { hostCgroups } : {}),
    ...(owner !== undefined ? { owner } : {}),
    ...(keeper !== undefined ? { keeper } : {}),
    ...(hotplugged !== undefined ? { hotplugged } : {}),
  };
}

/** Validates a stored container record. */
export function parseContainerRecord(value: unknown, what: string): ContainerRecord {
  const r = parse(ContainerRecordSchema, value, what);
  return {
    ...r,
    id: containerId(r.id),
    sandboxId: sandboxId(r.sandboxId),
    storages: r.storages.map((s) => ({ plugin: s.plugin, storage: guestStorage(s.storage) })),
  };
}

export function parseContainerIndex(value: unknown, what: string): ContainerIndex {
  const r = parse(ContainerIndexSchema, value, what);
  return { schema: 1, sandboxId: sandboxId(r.sandboxId) };
}

type RawDevice = v.InferOutput<typeof DeviceSchema>;

function guestStorage(s: v.InferOutput<typeof GuestStorageSchema>): GuestStorage {
  return { ...s, devices: s.devices.map(device) };
}

function vmState(s: v.InferOutput<typeof VmStateSchema>): VmState {
  const { qmpSocket, extra, ...rest } = s;
  return {
    ...rest,
    id: sandboxId(s.id),
    ...(qmpSocket === undefined ? {} : { qmpSocket }),
    ...(extra === undefined ? {} : { extra }),
  };
}

function brandDevices(
  r: v.InferOutput<typeof SandboxRecordSchema>,
): Pick<SandboxRecord, "network" | "prepared"> {
  return {
    network: r.network === null ? null : {
      plugin: r.network.plugin,
      netns: r.network.netns,
      attachment: {
        endpoints: r.network.attachment.endpoints.map(({ routes, neighbors, ...e }) => ({
          ...e,
          mac: macAddress(e.mac),
          ...(routes === undefined ? {} : { routes }),
          ...(neighbors === undefined ? {} : { neighbors }),
        })),
        devices: r.network.attachment.devices.map(device),
      },
    },
    prepared: r.prepared.map((p) => ({
      plugin: p.plugin,
      devices: p.devices.map(device),
      storages: p.storages.map(guestStorage),
      state: p.state,
    })),
  };
}

/** Re-brands a validated device (ids and MACs through their constructors). */
function device(d: RawDevice): Device {
  const id = deviceId(d.id);
  switch (d.kind) {
    case "net": {
      const { charDevice, ...rest } = d;
      return { ...rest, id, mac: macAddress(d.mac), ...(charDevice === undefined ? {} : { charDevice }) };
    }
    case "share-fs": {
      const { readOnly, socket, ...rest } = d;
      return {
        ...rest,
        id,
        ...(readOnly === undefined ? {} : { readOnly }),
        ...(socket === undefined ? {} : { socket }),
      };
    }
    default:
      return { ...d, id };
  }
}
