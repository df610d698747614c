/**
 * `VirtioBlkStorage`: a rootfs or volume given as a block device or image file is hot-plugged into
 * the running VM (`vm.addDevice`, QMP on QEMU) and mounted by the agent at the requested guest path.
 *
 * The guest learns the disk by its PCI address: the storage `source` is
 * `/sys/bus/pci/devices/<address>` and the agent resolves it to the disk's /dev node (its
 * `virtio*\/block/<name>` child).
 *
 * @module
 */
import { RuntimeError } from "../../../runtime/errors.ts";
import { deviceId, type SandboxId } from "../../../runtime/ids.ts";
import type { Logger } from "../../../runtime/log/logger.ts";
import type { AttachedDevice, Device, GuestStorage, OciMount, Vm } from "../../types.ts";

/** Prefix of the guest path that names a disk by PCI address. */
export const PCI_SYSFS = "/sys/bus/pci/devices/";

/** A device id from the guest path (deterministic, so unshare can recompute it). Pure. */
export function blockDeviceId(guestPath: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < guestPath.length; i++) {
    h ^= guestPath.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return `blk-${h.toString(16).padStart(8, "0")}`;
}

/** True for block devices and regular files (image files). */
function isBlockOrImage(path: string): boolean {
  try {
    const st = Deno.statSync(path);
    return st.isBlockDevice === true || st.isFile;
  } catch {
    return false;
  }
}

/**
 * The filesystem type that a disk's first 4 KiB show, for mounts that name none: "ext4" for the
 * ext2/3/4 superblock magic (0xEF53 at byte 1080; the ext4 driver mounts all three), "xfs" for
 * "XFSB" at 0; "" when unknown (the guest's mount then probes). Pure.
 */
export function detectFsType(head: Uint8Array): string {
  if (head.length >= 1082 && head[1080] === 0x53 && head[1081] === 0xef) return "ext4";
  if (head.length >= 4 && String.fromCharCode(...head.subarray(0, 4)) === "XFSB") return "xfs";
  return "";
}

async function readHead(path: string): Promise<Uint8Array> {
  try {
    using f = await Deno.open(path, { read: true });
    const buf = new Uint8Array(4096);
    const n = await f.read(buf);
    return buf.subarray(0, n ?? 0);
  } catch {
    return new Uint8Array(0);
  }
}

export class VirtioBlkStorage {
  readonly #log: Logger;

  constructor(opts: { log: Logger }) {
    this.#log = opts.log;
  }

  /** Mounts whose source is a block device or an image file (not a bind of a file into a container). */
  canHandle(mount: OciMount): boolean {
    if (mount.source === undefined || !mount.source.startsWith("/")) return false;
    const st = (() => {
      try {
        return Deno.statSync(mount.source);
      } catch {
        return undefined;
      }
    })();
    if (st === undefined) return false;
    if (st.isBlockDevice === true) return true;
    // An image file only when it is not a plain bind mount (a bind of a file is a file, not a disk):
    // a rootfs, or a volume mounted with its filesystem type.
    return st.isFile && mount.type !== "bind" &&
      (mount.destination === "/" || (mount.type !== undefined && mount.type !== "none"));
  }

  async share(
    mount: OciMount,
    opts: { sandbox: SandboxId; vm: Vm; guestPath: string },
  ): Promise<GuestStorage> {
    const source = mount.source;
    if (source === undefined || !isBlockOrImage(source)) {
      throw new RuntimeError(
        "InvalidArgument",
        `Cannot attach "${source ?? ""}" as a virtio-blk disk: it is not a block device or an image file`,
      );
    }
    const readOnly = (mount.options ?? []).includes("ro");
    const device: Device = {
      kind: "block",
      id: deviceId(blockDeviceId(opts.guestPath)),
      path: source,
      readOnly,
      driver: "virtio-blk",
    };
    const att = await opts.vm.addDevice(device);
    if (att.guestAddress === undefined) {
      await opts.vm.removeDevice(att).catch(() => {});
      throw new RuntimeError(
        "Internal",
        `Cannot attach "${source}" as a virtio-blk disk: the hypervisor gave no PCI address`,
      );
    }
    this.#log.info("disk attached", { sandbox: opts.sandbox, source, guestAddress: att.guestAddress });
    const fstype = mount.type !== undefined && mount.type !== "bind" && mount.type !== "none"
      ? mount.type
      : detectFsType(await readHead(source));
    return {
      driver: "virtio-blk",
      source: `${PCI_SYSFS}${att.guestAddress}`,
      fstype,
      options: (mount.options ?? []).filter((o) => o !== "bind" && o !== "rbind"),
      mountPoint: opts.guestPath,
      devices: [device],
    };
  }

  async unshare(storage: GuestStorage, opts: { vm: Vm }): Promise<void> {
    const device = storage.devices[0];
    if (device === undefined) return;
    const att: AttachedDevice = { device, guestAddress: storage.source.slice(PCI_SYSFS.length) };
    await opts.vm.removeDevice(att);
  }
}
