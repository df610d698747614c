/**
 * Guest mounts for sandbox and container storage: 9p and virtio-fs shares, block devices, tmpfs and
 * bind mounts, done with `mount(8)` (busybox or util-linux) through the command runner.
 *
 * @module
 */
import { isPciSource, resolvePciBlock } from "./pci_block.ts";
import { RuntimeError } from "../../runtime/errors.ts";
import { type CommandRunner, runToEnd } from "../sys/command.ts";

export type StorageDriver = "9p" | "virtio-fs" | "virtio-blk" | "scsi" | "tmpfs" | "bind" | "local";
const DRIVERS: readonly StorageDriver[] = ["9p", "virtio-fs", "virtio-blk", "scsi", "tmpfs", "bind", "local"];

export interface GuestStorageSpec {
  readonly driver: StorageDriver;
  readonly driverOptions: readonly string[];
  readonly source: string;
  readonly fsType: string;
  readonly options: readonly string[];
  readonly mountPoint: string;
  readonly readOnly: boolean;
}

/** Validates a driver name. */
export function storageDriver(s: string): StorageDriver {
  const d = DRIVERS.find((x) => x === s);
  if (!d) {
    throw new RuntimeError(
      "InvalidArgument",
      `Unknown storage driver "${s.slice(0, 40)}": expected one of ${DRIVERS.join(", ")}`,
    );
  }
  return d;
}

function checkPath(p: string, what: string): void {
  if (!p.startsWith("/") || p.split("/").includes("..")) {
    throw new RuntimeError(
      "InvalidArgument",
      `Invalid ${what} "${p.slice(0, 200)}": expected an absolute path without ".."`,
    );
  }
}

/** The mount(8) argv for a storage. Pure. */
export function mountArgv(s: GuestStorageSpec): string[] {
  checkPath(s.mountPoint, "mount point");
  const opts = [...s.options, ...(s.readOnly ? ["ro"] : [])];
  const o = (extra: readonly string[]) => {
    const all = [...extra, ...opts];
    return all.length > 0 ? ["-o", all.join(",")] : [];
  };
  switch (s.driver) {
    case "9p":
      return [
        "mount",
        "-t",
        "9p",
        ...o(["trans=virtio", "version=9p2000.L", ...s.driverOptions]),
        s.source,
        s.mountPoint,
      ];
    case "virtio-fs":
      return ["mount", "-t", "virtiofs", ...o(s.driverOptions), s.source, s.mountPoint];
    case "virtio-blk":
    case "scsi":
      checkPath(s.source, "block device");
      return ["mount", ...(s.fsType ? ["-t", s.fsType] : []), ...o([]), s.source, s.mountPoint];
    case "tmpfs":
      return ["mount", "-t", "tmpfs", ...o([]), "tmpfs", s.mountPoint];
    case "bind":
    case "local":
      checkPath(s.source, "bind source");
      return ["mount", "--bind", ...o([]), s.source, s.mountPoint];
  }
}

/**
 * The module to load before mounting a disk: its filesystem's, or ext4 (which also mounts ext2/3)
 * when the host named none. The image carries ext4 without loading it at boot. Pure.
 */
export function diskModule(s: GuestStorageSpec): string | undefined {
  if (s.driver !== "virtio-blk" && s.driver !== "scsi") return undefined;
  const t = s.fsType;
  if (t === "") return "ext4";
  return /^[a-z0-9_]{1,32}$/.test(t) ? t : undefined;
}

/** Creates the mount point and mounts. */
export async function mountStorage(runner: CommandRunner, s: GuestStorageSpec): Promise<void> {
  const module = diskModule(s);
  // Best effort: a built-in or absent module leaves mount(8) to say what is wrong.
  if (module !== undefined) await runToEnd(runner, ["modprobe", "-q", module]).catch(() => {});
  const argv = mountArgv(
    (s.driver === "virtio-blk" || s.driver === "scsi") && isPciSource(s.source)
      ? { ...s, source: await resolvePciBlock(s.source) }
      : s,
  );
  await Deno.mkdir(s.mountPoint, { recursive: true });
  const r = await runToEnd(runner, argv);
  if (r.code !== 0) {
    throw new RuntimeError(
      "Internal",
      `Cannot mount "${s.source}" on "${s.mountPoint}": mount exited with code ${r.code}: ${
        r.stderr.trim().slice(0, 300)
      }`,
    );
  }
}

/** Unmounts (lazily, so a busy mount does not block removal). */
export async function unmount(runner: CommandRunner, mountPoint: string): Promise<void> {
  checkPath(mountPoint, "mount point");
  const r = await runToEnd(runner, ["umount", "-l", mountPoint]);
  if (r.code !== 0) {
    throw new RuntimeError(
      "Internal",
      `Cannot unmount "${mountPoint}": umount exited with code ${r.code}: ${r.stderr.trim().slice(0, 300)}`,
    );
  }
}
