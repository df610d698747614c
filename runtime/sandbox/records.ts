/**
 * What is persisted about sandboxes and containers, and the validation of records read back from
 * the metadata store (the store returns `unknown`: a record is never cast, it is parsed here). The
 * schemas are the single source: each record type is inferred from its schema, with ids and MACs
 * branded by their smart constructors while parsing.
 *
 * Keys: `sandboxes/<sid>` (SandboxRecord), `sandboxes/<sid>/containers/<cid>` (ContainerRecord),
 * `containers/<cid>` (ContainerIndex: which sandbox holds a container id).
 *
 * @module
 */
import * as v from "valibot";
import type { Device, GuestStorage, NetworkAttachment, VmState } from "../../plugins/types.ts";
import { SandboxError } from "../errors.ts";
import { containerId, deviceId, macAddress, sandboxId } from "../ids.ts";
import type { ContainerStatus, ProcessStatus, SandboxStatus } from "./status.ts";

const RECORD_SCHEMA = 1;

const str = v.string();
const int = v.pipe(v.number(), v.integer());
const bool = v.boolean();
const exitStatus = v.nullable(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(255)));
// Records are read-only values: their objects, lists and maps infer as `Readonly`.
const obj = <E extends v.ObjectEntries>(entries: E) => v.pipe(v.object(entries), v.readonly());
const list = <S extends v.GenericSchema>(item: S) => v.pipe(v.array(item), v.readonly());
const map = <S extends v.GenericSchema>(value: S) => v.pipe(v.record(str, value), v.readonly());
// Ids and MACs go through their smart constructors, which throw `InvalidArgument`.
const SandboxIdSchema = v.pipe(str, v.transform(sandboxId));
const DeviceIdSchema = v.pipe(str, v.check((s) => s.length > 0), v.transform(deviceId));
const MacSchema = v.pipe(str, v.transform(macAddress));

const SandboxStatusSchema: v.GenericSchema<unknown, SandboxStatus> = v.variant("kind", [
  v.object({ kind: v.literal("creating"), since: str }),
  v.object({ kind: v.literal("ready"), startedAt: str }),
  v.object({ kind: v.literal("paused"), startedAt: str, pausedAt: str }),
  v.object({ kind: v.literal("stopped"), stoppedAt: str, reason: str }),
]);

const ContainerStatusSchema: v.GenericSchema<unknown, ContainerStatus> = v.variant("kind", [
  v.object({ kind: v.literal("creating"), since: str }),
  v.object({ kind: v.literal("created"), pid: int }),
  v.object({ kind: v.literal("running"), pid: int, startedAt: str }),
  v.object({ kind: v.literal("paused"), pid: int, startedAt: str }),
  v.object({ kind: v.literal("stopped"), pid: int, exitStatus, exitedAt: str }),
]);

const ProcessStatusSchema: v.GenericSchema<unknown, ProcessStatus> = v.variant("kind", [
  v.object({ kind: v.literal("running"), pid: int, startedAt: str }),
  v.object({ kind: v.literal("exited"), pid: int, exitStatus, exitedAt: str }),
]);

// Devices, storages, VMs and NICs are plugin data: validated for shape and handed back to plugins.
const DeviceSchema: v.GenericSchema<unknown, Device> = v.variant("kind", [
  v.object({
    kind: v.literal("block"),
    id: DeviceIdSchema,
    path: str,
    readOnly: bool,
    driver: v.picklist(["virtio-blk", "virtio-scsi", "nvdimm"]),
    sizeBytes: v.exactOptional(int),
  }),
  v.object({
    kind: v.literal("net"),
    id: DeviceIdSchema,
    tap: str,
    mac: MacSchema,
    mtu: int,
    charDevice: v.exactOptional(str),
  }),
  v.object({ kind: v.literal("vsock"), id: DeviceIdSchema, cid: int }),
  v.object({
    kind: v.literal("share-fs"),
    id: DeviceIdSchema,
    tag: str,
    source: str,
    transport: v.picklist(["9p", "virtio-fs"]),
    readOnly: v.exactOptional(bool),
    socket: v.exactOptional(str),
  }),
  v.object({ kind: v.literal("vfio"), id: DeviceIdSchema, bdf: str }),
]);

const GuestStorageSchema: v.GenericSchema<unknown, GuestStorage> = v.object({
  driver: str,
  source: str,
  fstype: str,
  options: v.array(str),
  mountPoint: str,
  devices: v.array(DeviceSchema),
});

// Entries in the key order records have always been saved in (agent before qmpSocket).
const VmStateSchema: v.GenericSchema<unknown, VmState> = v.object({
  id: SandboxIdSchema,
  hypervisor: str,
  pid: int,
  stateDir: str,
  agent: v.variant("kind", [
    v.object({ kind: v.literal("vsock"), cid: int, port: int }),
    v.object({ kind: v.literal("unix"), path: str }),
  ]),
  qmpSocket: v.exactOptional(str),
  extra: v.exactOptional(v.record(str, v.unknown())),
});

const NetworkAttachmentSchema: v.GenericSchema<unknown, NetworkAttachment> = v.object({
  endpoints: v.array(v.pipe(
    // Loose: plugins keep their own data in an endpoint (the macvtap model's device node), which they
    // read back at detach.
    v.looseObject({
      name: str,
      mac: MacSchema,
      mtu: int,
      addresses: v.array(str),
      routes: v.exactOptional(v.array(v.object({
        destination: str,
        gateway: str,
        device: str,
        source: str,
        scope: int,
        family: v.picklist([4, 6]),
        metric: int,
      }))),
      neighbors: v.exactOptional(v.array(v.object({ address: str, device: str, mac: str, state: int }))),
    }),
    // Routes and neighbours after the plugin's own keys, as records have always been written.
    v.transform(({ routes, neighbors, ...e }) => ({
      ...e,
      ...(routes && { routes }),
      ...(neighbors && { neighbors }),
    })),
  )),
  devices: v.array(DeviceSchema),
});

/** Sandbox-wide storage a storage plugin prepared before boot (the shared directory). */
const PreparedStorageSchema = obj({
  plugin: str,
  devices: list(DeviceSchema),
  storages: list(GuestStorageSchema),
  /** Plugin-owned data needed to release it (virtiofsd pid, host paths...). */
  state: map(v.unknown()),
});
export type PreparedStorage = v.InferOutput<typeof PreparedStorageSchema>;

/** A block device plugged into the running VM. */
const PluggedBlockSchema = obj({
  kind: v.literal("block"),
  id: str,
  path: str,
  readOnly: bool,
  driver: v.picklist(["virtio-blk", "virtio-scsi"]),
  /** Where the guest sees it (PCI address, or `scsi:<pci>:<id>`). */
  guestAddress: v.nullable(str),
});
export type PluggedBlock = v.InferOutput<typeof PluggedBlockSchema>;

/** A NIC plugged into the running VM, on `tap` (made by Cocoon when `ownedTap`). */
const PluggedNicSchema = obj({ name: str, id: str, tap: str, ownedTap: bool, mac: str, mtu: int });
export type PluggedNic = v.InferOutput<typeof PluggedNicSchema>;

const HotpluggedSchema = obj({ devices: list(PluggedBlockSchema), nics: list(PluggedNicSchema) });
export type Hotplugged = v.InferOutput<typeof HotpluggedSchema>;

/** Who holds a sandbox: the host daemon, an OCI container's holder, or a program using mod.ts. */
const SandboxOwnerSchema = v.pipe(
  v.variant("kind", [
    /** `cocoon daemon`: its management API socket takes the sandbox's actions. */
    v.object({ kind: v.literal("daemon"), pid: int, startTime: str, api: str }),
    /** An OCI-CLI container's holder: its control socket. */
    v.object({ kind: v.literal("holder"), pid: int, startTime: str, socket: str }),
    /** A program that imported mod.ts: it must release the sandbox before anyone else acts on it. */
    v.object({ kind: v.literal("program"), pid: int, startTime: str }),
  ]),
  v.readonly(),
);
export type SandboxOwnerRecord = v.InferOutput<typeof SandboxOwnerSchema>;

const SandboxRecordSchema = obj({
  schema: v.literal(RECORD_SCHEMA),
  id: SandboxIdSchema,
  createdAt: str,
  status: SandboxStatusSchema,
  /** Host directory owned by the sandbox: `<runtime.state_dir>/sandboxes/<id>`. */
  dir: str,
  hypervisor: str,
  /** Null until the VM was started. */
  vm: v.nullable(VmStateSchema),
  vcpus: int,
  memoryMiB: int,
  agentTimeoutSeconds: int,
  /** Network namespace the VM is attached to, and by which plugin. */
  network: v.nullable(obj({ plugin: str, netns: str, attachment: NetworkAttachmentSchema })),
  prepared: list(PreparedStorageSchema),
  annotations: map(str),
  /** Host cgroup directories Cocoon made for the pod's host processes (removed with the sandbox). */
  hostCgroups: v.exactOptional(list(str)),
  /**
   * The process that holds the VM and answers for the sandbox's actions, written by that process
   * when it creates or attaches the sandbox and cleared when it releases it. Absent or null: none
   * (a process that died counts as none too: its pid and start time no longer match).
   */
  owner: v.exactOptional(v.nullable(SandboxOwnerSchema)),
  /**
   * Who holds the sandbox whenever no program does: "daemon" for a library sandbox created with
   * `owner: "daemon"` (a program's release hands it to `cocoon daemon`, which also takes it over
   * when the program dies). Absent: nobody (the sandbox waits, ownerless, for its next holder).
   */
  keeper: v.exactOptional(v.literal("daemon")),
  /** Devices and NICs hot-plugged into the running VM (hotplug.ts); absent: none. */
  hotplugged: v.exactOptional(HotpluggedSchema),
});
export type SandboxRecord = v.InferOutput<typeof SandboxRecordSchema>;

/** A storage shared for one container (its rootfs, a bind mount, a volume). */
const SharedStorageSchema = obj({ plugin: str, storage: GuestStorageSchema });
export type SharedStorage = v.InferOutput<typeof SharedStorageSchema>;

const ExecRecordSchema = obj({ id: str, terminal: bool, status: ProcessStatusSchema });
export type ExecRecord = v.InferOutput<typeof ExecRecordSchema>;

const ContainerRecordSchema = obj({
  schema: v.literal(RECORD_SCHEMA),
  id: v.pipe(str, v.transform(containerId)),
  sandboxId: SandboxIdSchema,
  createdAt: str,
  status: ContainerStatusSchema,
  /** OCI bundle directory on the host, when the container came from one. */
  bundle: v.nullable(str),
  /** Host rootfs path as given. */
  rootfs: str,
  terminal: bool,
  storages: list(SharedStorageSchema),
  execs: map(ExecRecordSchema),
  annotations: map(str),
});
export type ContainerRecord = v.InferOutput<typeof ContainerRecordSchema>;

const ContainerIndexSchema = obj({ schema: v.literal(RECORD_SCHEMA), sandboxId: SandboxIdSchema });
export type ContainerIndex = v.InferOutput<typeof ContainerIndexSchema>;

function parse<S extends v.GenericSchema>(schema: S, value: unknown, what: string): v.InferOutput<S> {
  let r: v.SafeParseResult<S>;
  try {
    r = v.safeParse(schema, value);
  } catch (e) {
    // a bad id or MAC on disk is a damaged record, not a caller's bad argument
    throw new SandboxError(
      "DataLoss",
      `Cannot read ${what}: the stored record is malformed: ${e instanceof Error ? e.message : String(e)}`,
      {
        cause: e,
      },
    );
  }
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

/** Validates a stored sandbox record (ids and MACs re-validated through their smart constructors). */
export function parseSandboxRecord(value: unknown, what: string): SandboxRecord {
  return parse(SandboxRecordSchema, value, what);
}

/** Validates a stored container record. */
export function parseContainerRecord(value: unknown, what: string): ContainerRecord {
  return parse(ContainerRecordSchema, value, what);
}

export function parseContainerIndex(value: unknown, what: string): ContainerIndex {
  return parse(ContainerIndexSchema, value, what);
}
