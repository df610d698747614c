/**
 * Device hotplug and unplug over QMP: block (virtio-blk, virtio-scsi), net (tap), vsock,
 * virtio-fs and vfio go onto a free PCIe root port; unplug waits for DEVICE_DELETED and then
 * removes the backend.
 *
 * @module
 */
import { HypervisorError } from "../../../runtime/errors.ts";
import type { AttachedDevice, Device } from "../../types.ts";
import { deviceIds } from "./args/devices.ts";
import type { MachineType } from "./config.ts";
import type { QmpClient } from "./qmp.ts";
import { isRecord } from "../../../runtime/sys/files.ts";

/** What hotplug needs to know about the VM. */
export interface HotplugTarget {
  readonly vmId: string;
  readonly qmp: QmpClient;
  readonly machineType: MachineType;
  /** Root port ids reserved for hotplug. */
  readonly ports: readonly string[];
  readonly sharedMemory: boolean;
  /** Time to wait for the guest to release a device, ms. */
  readonly unplugTimeoutMs: number;
  /**
   * QEMU cannot open host files itself (it runs as a uid of its own): the host opens them and
   * passes the descriptor (./fd_pass.ts); returns the name QEMU opens instead.
   */
  readonly passFile?: (path: string, readOnly: boolean, opaque: string) => Promise<string>;
  /** Hands a tap to QEMU's uid before QEMU opens it by name (it has no CAP_NET_ADMIN). */
  readonly handTap?: (tap: string) => Promise<void>;
}

/** Removes the fdsets added for `opaque` (none for a VM that opens its files itself). */
async function dropFdsets(q: QmpClient, opaque: string): Promise<void> {
  for (const set of records(await q.execute("query-fdsets").catch(() => []))) {
    const fds = records(set["fds"]);
    if (fds.some((f) => f["opaque"] === opaque) && typeof set["fdset-id"] === "number") {
      await q.execute("remove-fd", { "fdset-id": set["fdset-id"] }).catch(() => {});
    }
  }
}

function records(v: unknown): Record<string, unknown>[] {
  return Array.isArray(v) ? v.filter(isRecord) : [];
}

interface PciDevice {
  readonly bus: number;
  readonly slot: number;
  readonly fn: number;
  readonly qdevId: string;
  readonly children: readonly PciDevice[];
}

function parsePci(v: unknown): PciDevice[] {
  return records(v).map((d) => {
    const bridge = isRecord(d["pci_bridge"]) ? d["pci_bridge"] : {};
    return {
      bus: typeof d["bus"] === "number" ? d["bus"] : 0,
      slot: typeof d["slot"] === "number" ? d["slot"] : 0,
      fn: typeof d["function"] === "number" ? d["function"] : 0,
      qdevId: typeof d["qdev_id"] === "string" ? d["qdev_id"] : "",
      children: parsePci(bridge["devices"]),
    };
  });
}

async function pciTree(qmp: QmpClient): Promise<PciDevice[]> {
  const buses = records(await qmp.execute("query-pci"));
  return buses.flatMap((b) => parsePci(b["devices"]));
}

function flatten(devs: readonly PciDevice[]): PciDevice[] {
  return devs.flatMap((d) => [d, ...flatten(d.children)]);
}

/** The guest PCI address ("0000:01:00.0") of the device with QEMU id `qdevId`. */
export async function pciAddress(qmp: QmpClient, qdevId: string): Promise<string | undefined> {
  const d = flatten(await pciTree(qmp)).find((x) => x.qdevId === qdevId);
  if (d === undefined) return undefined;
  const hex = (n: number, w: number): string => n.toString(16).padStart(w, "0");
  return `0000:${hex(d.bus, 2)}:${hex(d.slot, 2)}.${d.fn}`;
}

async function freePort(t: HotplugTarget, what: string): Promise<string> {
  if (t.machineType === "microvm" || t.ports.length === 0) {
    throw new HypervisorError(
      "Unimplemented",
      `Cannot hotplug ${what} into VM "${t.vmId}": machine "${t.machineType}" has no hotplug ports`,
    );
  }
  const all = flatten(await pciTree(t.qmp));
  for (const port of t.ports) {
    const p = all.find((d) => d.qdevId === port);
    if (p !== undefined && p.children.length === 0) return port;
  }
  throw new HypervisorError(
    "ResourceExhausted",
    `Cannot hotplug ${what} into VM "${t.vmId}": all ${t.ports.length} hotplug ports are in use`,
  );
}

async function hasPeripheral(qmp: QmpClient, id: string): Promise<boolean> {
  const list = records(await qmp.execute("qom-list", { path: "/machine/peripheral" }));
  return list.some((p) => p["name"] === id);
}

/** Adds `device` to the running VM. */
export async function hotplugDevice(t: HotplugTarget, device: Device): Promise<AttachedDevice> {
  const { dev, backend } = deviceIds(device);
  const what = `${device.kind} device "${device.id}"`;
  const q = t.qmp;
  switch (device.kind) {
    case "block": {
      if (device.driver === "nvdimm") {
        throw new HypervisorError(
          "Unimplemented",
          `Cannot hotplug ${what}: driver "nvdimm" is not supported by the qemu plugin`,
        );
      }
      const ro = device.readOnly;
      // QEMU's "file" protocol driver takes regular files only; block devices need "host_device".
      const isBlockDevice = await Deno.stat(device.path).then((st) => st.isBlockDevice === true, () => false);
      const filename = t.passFile !== undefined ? await t.passFile(device.path, ro, backend) : device.path;
      try {
        await q.execute("blockdev-add", {
          driver: "raw",
          "node-name": backend,
          "read-only": ro,
          file: { driver: isBlockDevice ? "host_device" : "file", filename, "read-only": ro },
        });
      } catch (e) {
        await dropFdsets(q, backend);
        throw e;
      }
      try {
        if (device.driver === "virtio-scsi") {
          if (!(await hasPeripheral(q, "scsi0"))) {
            await q.execute("device_add", {
              driver: "virtio-scsi-pci",
              id: "scsi0",
              bus: await freePort(t, what),
            });
          }
          await q.execute("device_add", { driver: "scsi-hd", id: dev, drive: backend, bus: "scsi0.0" });
          return { device, guestAddress: `scsi:${await pciAddress(q, "scsi0") ?? ""}:${dev}` };
        }
        await q.execute("device_add", {
          driver: "virtio-blk-pci",
          id: dev,
          drive: backend,
          bus: await freePort(t, what),
        });
      } catch (e) {
        await q.execute("blockdev-del", { "node-name": backend }).catch(() => {});
        await dropFdsets(q, backend);
        throw e;
      }
      break;
    }
    case "net":
      if (device.charDevice !== undefined) {
        // QMP takes a new descriptor only over SCM_RIGHTS (getfd), which Deno cannot send.
        throw new HypervisorError(
          "Unimplemented",
          `Cannot hotplug ${what}: a tap opened from a character device ("${device.charDevice}", macvtap) needs its file descriptor passed over QMP, which this plugin cannot do`,
        );
      }
      await t.handTap?.(device.tap);
      await q.execute("netdev_add", {
        type: "tap",
        id: backend,
        ifname: device.tap,
        script: "no",
        downscript: "no",
        vhost: false,
      });
      try {
        await q.execute("device_add", {
          driver: "virtio-net-pci",
          id: dev,
          netdev: backend,
          mac: device.mac,
          host_mtu: device.mtu,
          bus: await freePort(t, what),
        });
      } catch (e) {
        await q.execute("netdev_del", { id: backend }).catch(() => {});
        throw e;
      }
      break;
    case "vsock":
      await q.execute("device_add", {
        driver: "vhost-vsock-pci",
        id: dev,
        "guest-cid": device.cid,
        bus: await freePort(t, what),
      });
      break;
    case "share-fs": {
      if (device.transport === "9p") {
        throw new HypervisorError(
          "Unimplemented",
          `Cannot hotplug ${what}: QEMU cannot add a 9p export to a running VM, add it at boot`,
        );
      }
      if (!t.sharedMemory) {
        throw new HypervisorError(
          "FailedPrecondition",
          `Cannot hotplug ${what}: virtio-fs needs shared guest memory (set shared_memory = true)`,
        );
      }
      if (device.socket === undefined) {
        throw new HypervisorError(
          "InvalidArgument",
          `Cannot hotplug ${what}: it needs the virtiofsd socket path`,
        );
      }
      await q.execute("chardev-add", {
        id: backend,
        backend: {
          type: "socket",
          data: { addr: { type: "unix", data: { path: device.socket } }, server: false },
        },
      });
      try {
        await q.execute("device_add", {
          driver: "vhost-user-fs-pci",
          id: dev,
          chardev: backend,
          tag: device.tag,
          bus: await freePort(t, what),
        });
      } catch (e) {
        await q.execute("chardev-remove", { id: backend }).catch(() => {});
        throw e;
      }
      break;
    }
    case "vfio":
      await q.execute("device_add", {
        driver: "vfio-pci",
        id: dev,
        host: device.bdf,
        bus: await freePort(t, what),
      });
      break;
  }
  const addr = await pciAddress(q, dev);
  return addr === undefined ? { device } : { device, guestAddress: addr };
}

/** Asks the guest to release a QEMU device and waits for DEVICE_DELETED. */
async function deleteDevice(t: HotplugTarget, qdevId: string, what: string): Promise<void> {
  const deleted = t.qmp.waitEvent((e) => e.event === "DEVICE_DELETED" && e.data["device"] === qdevId, {
    timeoutMs: t.unplugTimeoutMs,
  });
  deleted.catch(() => {}); // observed below; avoid an unhandled rejection if device_del throws
  await t.qmp.execute("device_del", { id: qdevId });
  try {
    await deleted;
  } catch (e) {
    throw new HypervisorError(
      "DeadlineExceeded",
      `Cannot remove ${what} from VM "${t.vmId}": the guest did not release it in ${t.unplugTimeoutMs} ms`,
      {
        cause: e,
      },
    );
  }
}

/** Removes a hotplugged device and its backend. */
export async function unplugDevice(t: HotplugTarget, attached: AttachedDevice): Promise<void> {
  const device = attached.device;
  const { dev, backend } = deviceIds(device);
  await deleteDevice(t, dev, `${device.kind} device "${device.id}"`);
  switch (device.kind) {
    case "block":
      await t.qmp.execute("blockdev-del", { "node-name": backend });
      // a device cold-plugged from the command line has a separate file node
      await t.qmp.execute("blockdev-del", { "node-name": `${backend}-f` }).catch(() => {});
      await dropFdsets(t.qmp, backend);
      break;
    case "net":
      await t.qmp.execute("netdev_del", { id: backend });
      break;
    case "share-fs":
      if (device.transport === "virtio-fs") await t.qmp.execute("chardev-remove", { id: backend });
      break;
    default:
      break;
  }
}
