/**
 * What a template depends on, and the split of a VM's devices between those a template boots with
 * and those a clone gets hot-plugged after its restore. A template is found by the hash of its
 * shape (kernel, initrd and read-only disks by path, size and mtime; vCPUs; memory; kernel
 * parameters; boot devices) and of the hypervisor's identity (binary, version, plugin settings):
 * any change gives another hash, so a stale template is never used.
 *
 * @module
 */
import { HypervisorError } from "../../../runtime/errors.ts";
import type { Device, VmConfig } from "../../types.ts";

/** Kernel parameter keys that differ per VM and are set in a clone by the core (hostname). */
const PER_VM_PARAMS = ["cocoon.hostname"];

/** Hostname parameter a template boots with; each clone gets its own through its agent. */
export const TEMPLATE_HOSTNAME = "cocoon-template";

/**
 * Devices a template boots with (its 9p shares, whose host directory each clone gives anew, and
 * read-only disks such as the guest userland) and devices a clone gets by hotplug (NICs, writable
 * disks, VFIO). Pure.
 *
 * @throws {HypervisorError} FailedPrecondition for devices no template can carry (virtio-fs, vsock).
 */
export function splitDevices(config: VmConfig): { boot: Device[]; hotplug: Device[] } {
  const boot: Device[] = [];
  const hotplug: Device[] = [];
  for (const d of config.devices) {
    switch (d.kind) {
      case "share-fs":
        if (d.transport !== "9p") throw unsupported(config, `device "${d.id}" is virtio-fs`);
        boot.push(d);
        break;
      case "block":
        (d.readOnly ? boot : hotplug).push(d);
        break;
      case "vsock":
        throw unsupported(config, `device "${d.id}" is vsock`);
      case "net":
      case "vfio":
        hotplug.push(d);
        break;
    }
  }
  if (config.agentChannel !== "virtio-serial") throw unsupported(config, "its agent channel is vsock");
  return { boot, hotplug };
}

function unsupported(config: VmConfig, why: string): HypervisorError {
  return new HypervisorError(
    "FailedPrecondition",
    `Cannot clone VM "${config.id}" from a template: ${why} (templates need virtio-9p or no shared fs, and the virtio-serial agent channel)`,
  );
}

/** The kernel parameters that a template shares with its clones (per-VM ones dropped). Pure. */
export function sharedKernelParams(params: readonly string[]): string[] {
  return params.filter((p) => !PER_VM_PARAMS.includes(p.split("=")[0] ?? p));
}

/** The shape of a VM that a template must match, without per-VM paths and names. Pure. */
export function templateShape(config: VmConfig): Record<string, unknown> {
  const { boot } = splitDevices(config);
  return {
    kernel: config.kernel,
    initrd: config.initrd ?? null,
    kernelParams: sharedKernelParams(config.kernelParams),
    vcpus: config.vcpus,
    maxVcpus: config.maxVcpus,
    memoryMiB: config.memoryMiB,
    maxMemoryMiB: config.maxMemoryMiB,
    accelerator: config.accelerator,
    agentChannel: config.agentChannel,
    debugConsole: config.debugConsole === true,
    devices: boot.map((d) =>
      d.kind === "share-fs"
        ? { kind: d.kind, id: d.id, tag: d.tag, transport: d.transport, readOnly: d.readOnly === true }
        : d
    ),
  };
}

/** Files whose content a template holds (kernel, initrd, read-only disks). Pure. */
function templateFiles(config: VmConfig): string[] {
  const files = [config.kernel];
  if (config.initrd !== undefined) files.push(config.initrd);
  for (const d of splitDevices(config).boot) if (d.kind === "block") files.push(d.path);
  return files;
}

/** Path, size and modification time of each file: a rebuilt image changes them. */
async function fileIdentities(paths: readonly string[]): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  for (const p of paths) {
    try {
      const st = await Deno.stat(p);
      out.push({ path: p, size: st.size, mtimeMs: st.mtime?.getTime() ?? 0, ino: st.ino ?? 0 });
    } catch (e) {
      throw new HypervisorError("NotFound", `Cannot make a template: "${p}" is not readable`, { cause: e });
    }
  }
  return out;
}

/** Hex SHA-256 of a JSON value with sorted keys. */
export async function hashOf(value: unknown): Promise<string> {
  const text = JSON.stringify(
    value,
    (_k, v: unknown) =>
      typeof v === "object" && v !== null && !Array.isArray(v)
        ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b)))
        : v,
  );
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** The template key of a VM: 32 hex characters. */
export async function templateKey(config: VmConfig, hypervisorIdentity: string): Promise<string> {
  const files = await fileIdentities(templateFiles(config));
  return (await hashOf({ v: 1, shape: templateShape(config), files, hypervisor: hypervisorIdentity }))
    .slice(0, 32);
}
