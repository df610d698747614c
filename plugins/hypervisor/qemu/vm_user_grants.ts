/**
 * Whether a VM's QEMU runs as a uid of its own, and what that uid is given (taps, 9p exports,
 * vhost-user sockets, the KVM device's group). It does unless the config keeps QEMU root
 * (`insecure_run_as_root`, or `insecure_unconfined`: the jail is set up by the confinement loader),
 * or the VM needs what only root has here: a VM template or clone (its RAM file is shared by VMs of
 * different uids) or a VFIO device (/dev/vfio groups belong to root).
 *
 * @module
 */
import type { Accelerator, VmConfig } from "../../types.ts";
import type { QemuConfig } from "./config.ts";
import type { VmUserGrants } from "./vm_layout.ts";

/** Why the VM's QEMU stays root, or undefined when it gets a uid of its own. Pure. */
function rootReason(
  config: Pick<VmConfig, "devices" | "memoryTemplate">,
  qemu: QemuConfig,
): string | undefined {
  if (!qemu.confine) return "insecure_unconfined = true";
  if (!qemu.vmUser) return "insecure_run_as_root = true";
  if (config.memoryTemplate !== undefined) return `it is a VM ${config.memoryTemplate.kind}`;
  if (config.devices.some((d) => d.kind === "vfio")) return "it has a VFIO device";
  return undefined;
}

/** Where `program` is: itself when a path, else the first match on PATH. */
function programPath(program: string): string | undefined {
  if (program.includes("/")) return program;
  for (const dir of (Deno.env.get("PATH") ?? "/usr/bin:/bin").split(":")) {
    try {
      if (dir.startsWith("/") && Deno.statSync(`${dir}/${program}`).isFile) return `${dir}/${program}`;
    } catch {
      // not there
    }
  }
  return undefined;
}

/** The grants of a VM whose QEMU gets a uid of its own; undefined when it stays root. */
export function vmUserGrants(
  config: VmConfig,
  qemu: QemuConfig,
  accel: Accelerator,
): VmUserGrants | undefined {
  if (rootReason(config, qemu) !== undefined) return undefined;
  const taps: string[] = [];
  const shares: string[] = [];
  const sockets: string[] = [];
  const files: string[] = [config.kernel, ...(config.initrd !== undefined ? [config.initrd] : [])];
  const binary = programPath(qemu.path);
  if (binary !== undefined) files.push(binary);
  for (const d of config.devices) {
    if (d.kind === "block") files.push(d.path);
    if (d.kind === "net" && d.charDevice === undefined) taps.push(d.tap);
    if (d.kind === "share-fs" && d.transport === "9p") shares.push(d.source);
    if (d.kind === "share-fs" && d.transport === "virtio-fs" && d.socket !== undefined) {
      sockets.push(d.socket);
    }
  }
  let groups: number[] = [];
  if (accel === "kvm") {
    try {
      const gid = Deno.statSync("/dev/kvm").gid;
      if (gid !== null && gid !== 0) groups = [gid];
    } catch {
      // no /dev/kvm: QEMU reports it
    }
  }
  return { taps, shares, sockets, files: files.filter((f) => f.startsWith("/")), groups };
}
