/**
 * Devices present at boot (cold plug), the entropy device, and the free PCIe root ports kept for
 * hotplug on q35. The same id scheme is used by hotplug (see `../hotplug.ts`).
 *
 * @module
 */
import { HypervisorError } from "../../../../runtime/errors.ts";
import type { Device } from "../../../types.ts";
import type { QemuConfig } from "../config.ts";
import { optValue, type QemuArgsInput, qemuId, virtioDriver } from "./types.ts";

/** QEMU ids used for a device: the frontend device id and its backend (drive, netdev, fsdev, chardev). */
export function deviceIds(device: Device): { dev: string; backend: string } {
  return { dev: qemuId("dev", device.id), backend: qemuId("be", device.id) };
}

/** Ids of the root ports reserved for hotplug. */
export function hotplugPortIds(qemu: QemuConfig): string[] {
  if (qemu.machineType !== "q35") return [];
  return Array.from({ length: qemu.hotplugPorts }, (_, i) => `hp${i}`);
}

/** First file descriptor handed to QEMU for a net device's character device (0-2 are stdio). */
const FIRST_DEVICE_FD = 3;

/**
 * The file descriptors QEMU inherits for net devices backed by a character device (macvtap):
 * device id -> fd and the node to open read-write on it, from {@link FIRST_DEVICE_FD} in device order.
 */
export function charDeviceFds(devices: readonly Device[]): Map<string, { fd: number; path: string }> {
  const out = new Map<string, { fd: number; path: string }>();
  for (const d of devices) {
    if (d.kind === "net" && d.charDevice !== undefined) {
      out.set(d.id, { fd: FIRST_DEVICE_FD + out.size, path: d.charDevice });
    }
  }
  return out;
}

/**
 * Frontend (`-device`) and backend options of one device; `bus` is added when given. `fd` is the
 * inherited descriptor of a net device with a `charDevice` (see {@link charDeviceFds}).
 */
function deviceArgs(device: Device, qemu: QemuConfig, bus?: string, fd?: number): string[] {
  const { dev, backend } = deviceIds(device);
  const onBus = bus === undefined ? "" : `,bus=${bus}`;
  switch (device.kind) {
    case "block": {
      if (device.driver === "nvdimm") return pmemArgs(device, qemu, dev, backend, onBus);
      const ro = device.readOnly ? ",read-only=on" : "";
      const drive = [
        "-blockdev",
        `driver=file,node-name=${backend}-f,filename=${optValue(device.path)}${ro}`,
      ];
      drive.push("-blockdev", `driver=raw,node-name=${backend},file=${backend}-f${ro}`);
      if (device.driver === "virtio-blk") {
        return [
          ...drive,
          "-device",
          `${virtioDriver("virtio-blk", qemu)},id=${dev},drive=${backend}${onBus}`,
        ];
      }
      if (device.driver === "virtio-scsi") {
        return [...drive, "-device", `scsi-hd,id=${dev},drive=${backend},bus=scsi0.0`];
      }
      throw new HypervisorError(
        "Unimplemented",
        `Cannot add block device "${device.id}": driver "${device.driver}" is not supported by the qemu plugin`,
      );
    }
    case "net":
      if (device.charDevice !== undefined && fd === undefined) {
        throw new HypervisorError(
          "InvalidArgument",
          `Cannot add net device "${device.id}": its character device "${device.charDevice}" has no file descriptor`,
        );
      }
      return [
        "-netdev",
        fd !== undefined
          ? `tap,id=${backend},fd=${fd},vhost=off`
          : `tap,id=${backend},ifname=${optValue(device.tap)},script=no,downscript=no,vhost=off`,
        "-device",
        `${
          virtioDriver("virtio-net", qemu)
        },id=${dev},netdev=${backend},mac=${device.mac},host_mtu=${device.mtu}${onBus}`,
      ];
    case "vsock":
      return [
        "-device",
        `vhost-vsock-${
          qemu.machineType === "microvm" ? "device" : "pci"
        },id=${dev},guest-cid=${device.cid}${onBus}`,
      ];
    case "share-fs":
      if (device.transport === "9p") {
        const ro = device.readOnly === true ? ",readonly=on" : "";
        return [
          "-fsdev",
          // multidevs=remap: the export holds bind mounts of other file systems; without it their inode
          // numbers can collide in the guest and lookups fail (ENOENT) at random.
          `local,id=${backend},path=${optValue(device.source)},security_model=none,multidevs=remap${ro}`,
          "-device",
          `${virtioDriver("virtio-9p", qemu)},id=${dev},fsdev=${backend},mount_tag=${
            optValue(device.tag)
          }${onBus}`,
        ];
      }
      if (device.socket === undefined) {
        throw new HypervisorError(
          "InvalidArgument",
          `Cannot add virtio-fs device "${device.id}": it needs the virtiofsd socket path`,
        );
      }
      return [
        "-chardev",
        `socket,id=${backend},path=${optValue(device.socket)}`,
        "-device",
        `vhost-user-fs-${
          qemu.machineType === "microvm" ? "device" : "pci"
        },id=${dev},chardev=${backend},tag=${optValue(device.tag)}${onBus}`,
      ];
    case "vfio":
      return ["-device", `vfio-pci,id=${dev},host=${optValue(device.bdf)}${onBus}`];
  }
}

/** Alignment QEMU and the guest's libnvdimm want of a virtio-pmem region. */
const PMEM_ALIGN_BYTES = 2 * 1024 * 1024;

/**
 * A file mapped as a virtio-pmem device: QEMU maps it shared (read-only when the device is), so
 * the guest's DAX accesses reach the host's page cache of that file, one copy for every VM. Not
 * on microvm (no PCI); the size must be given and a multiple of {@link PMEM_ALIGN_BYTES}.
 */
function pmemArgs(
  device: Extract<Device, { kind: "block" }>,
  qemu: QemuConfig,
  dev: string,
  backend: string,
  onBus: string,
): string[] {
  const why = qemu.machineType === "microvm"
    ? "the microvm machine has no PCI bus for virtio-pmem"
    : device.sizeBytes === undefined || device.sizeBytes <= 0 || device.sizeBytes % PMEM_ALIGN_BYTES !== 0
    ? `its size (${device.sizeBytes ?? "not given"}) is not a positive multiple of 2 MiB`
    : undefined;
  if (why !== undefined) {
    throw new HypervisorError("InvalidArgument", `Cannot add nvdimm device "${device.id}": ${why}`);
  }
  const ro = device.readOnly ? ",readonly=on" : "";
  return [
    "-object",
    `memory-backend-file,id=${backend},mem-path=${
      optValue(device.path)
    },size=${device.sizeBytes},share=on${ro}`,
    "-device",
    `virtio-pmem-pci,id=${dev},memdev=${backend}${onBus}`,
  ];
}

export function devicesArgs(input: QemuArgsInput): string[] {
  const { vm, qemu } = input;
  const args: string[] = [];
  if (vm.devices.some((d) => d.kind === "block" && d.driver === "virtio-scsi")) {
    args.push("-device", `${virtioDriver("virtio-scsi", qemu)},id=scsi0`);
  }
  const fds = charDeviceFds(vm.devices);
  for (const d of vm.devices) args.push(...deviceArgs(d, qemu, undefined, fds.get(d.id)?.fd));
  args.push("-object", "rng-random,id=rng0,filename=/dev/urandom");
  args.push("-device", `${virtioDriver("virtio-rng", qemu)},id=rng-dev0,rng=rng0`);
  if (qemu.freePageReporting) {
    args.push("-device", `${virtioDriver("virtio-balloon", qemu)},id=balloon0,free-page-reporting=on`);
  }
  hotplugPortIds(qemu).forEach((id, i) => {
    args.push("-device", `pcie-root-port,id=${id},bus=pcie.0,chassis=${i + 1},io-reserve=0`);
  });
  return args;
}
