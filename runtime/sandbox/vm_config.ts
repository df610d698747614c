/**
 * The `VmConfig` of a sandbox, from the resolved configuration (annotations applied), the guest
 * image's manifest and the devices that storage and network plugins need at boot.
 *
 * The guest image contract (runtime/guest): `kernel` + `initrd`, and in erofs mode the read-only
 * userland image, mapped with DAX from a virtio-pmem device (`cocoon.userland=/dev/pmem0`,
 * `cocoon.userland_opts=dax=always`) or else attached as the first virtio-blk disk (the guest's
 * /init takes the disk whose serial is "cocoon-userland", else /dev/vda; Device has no serial
 * field, so Cocoon puts it first and says `cocoon.userland=/dev/vda`), plus the kernel parameters
 * in `manifest.json` `cmdline`.
 *
 * @module
 */
import type { Device, VmConfig } from "../../plugins/types.ts";
import type { ResolvedConfig } from "../config/schema.ts";
import { SandboxError } from "../errors.ts";
import { deviceId, type SandboxId } from "../ids.ts";
import { consoleLogPath, vmStateDir } from "./layout.ts";

const USERLAND_DEVICE_ID = "userland";

export interface VmConfigInput {
  readonly id: SandboxId;
  /** The sandbox's host directory. */
  readonly dir: string;
  /** Devices from storage and network plugins. */
  readonly devices: readonly Device[];
  /** Kernel parameters from the guest image manifest. */
  readonly imageCmdline?: string;
  /** The userland image's size in bytes ({@link imageBytes}); unknown means virtio-blk. */
  readonly imageBytes?: number | undefined;
  /** Host memory in MiB, for `default_maxmemory = 0`. */
  readonly hostMemoryMiB?: number;
  /** Host CPUs, for `default_maxvcpus = 0`. */
  readonly hostCpus?: number;
  /** Guest hostname (default: from the sandbox id). */
  readonly hostname?: string;
  /** The pod's network namespace: the VMM runs in it (taps are opened there). */
  readonly netns?: string;
}

/** Builds the VM configuration. Pure. @throws {SandboxError} for a kernel parameter Cocoon owns. */
export function buildVmConfig(cfg: ResolvedConfig, input: VmConfigInput): VmConfig {
  const h = cfg.hypervisor;
  const devices: Device[] = [];
  // the configuration's parameters (a pod may set them through an annotation) come first, so the
  // ones Cocoon sets win over a duplicate; the ones only Cocoon may set are refused
  const own = words(h.kernelParams);
  const reserved = own.find((p) => /^(init|rdinit)=/.test(p) || p.startsWith("cocoon."));
  if (reserved !== undefined) {
    throw new SandboxError(
      "InvalidArgument",
      `Cannot configure the VM of "${input.id}": kernel parameter "${reserved}" is one Cocoon sets (init, rdinit, cocoon.*): remove it from hypervisor kernel_params or the pod's annotation`,
    );
  }
  const params: string[] = [...own];
  const vcpus = h.defaultVcpus;
  const memoryMiB = h.defaultMemory;
  const maxVcpus = Math.max(vcpus, h.defaultMaxVcpus > 0 ? h.defaultMaxVcpus : input.hostCpus ?? vcpus);
  const maxMemoryMiB = Math.max(
    memoryMiB,
    h.defaultMaxMemory > 0 ? h.defaultMaxMemory : input.hostMemoryMiB ?? memoryMiB,
  );
  if (h.image !== "") {
    const pmem = userlandOnPmem(cfg, input.imageBytes, maxMemoryMiB - memoryMiB);
    devices.push({
      kind: "block",
      id: deviceId(USERLAND_DEVICE_ID),
      path: h.image,
      readOnly: true,
      driver: pmem ? "nvdimm" : "virtio-blk",
      ...(pmem && input.imageBytes !== undefined ? { sizeBytes: input.imageBytes } : {}),
    });
    params.push(
      ...(pmem
        ? ["cocoon.userland=/dev/pmem0", "cocoon.userland_opts=dax=always"]
        : ["cocoon.userland=/dev/vda"]),
    );
  }
  devices.push(...input.devices);
  params.push(...words(input.imageCmdline ?? ""));
  params.push(`cocoon.hostname=${safeHostname(input.hostname ?? input.id)}`);
  if (cfg.agent.enableDebug || cfg.runtime.enableDebug) params.push("agent.log=debug");
  if (cfg.agent.debugConsoleEnabled) params.push("agent.debug_console");
  if (cfg.agent.kernelModules.length > 0) params.push(`cocoon.modules=${cfg.agent.kernelModules.join(",")}`);
  const channel = cfg.agent.channel === "vsock" ? "vsock" : "virtio-serial";
  params.push(`agent.channel=${channel === "vsock" ? "vsock" : "serial"}`);
  return {
    id: input.id,
    stateDir: vmStateDir(input.dir),
    kernel: h.kernel,
    ...(h.initrd !== "" ? { initrd: h.initrd } : {}),
    kernelParams: dedupe(params),
    vcpus,
    maxVcpus,
    memoryMiB,
    maxMemoryMiB,
    devices,
    accelerator: h.accelerator,
    agentChannel: channel,
    consoleLog: consoleLogPath(input.dir),
    ...(cfg.agent.debugConsoleEnabled ? { debugConsole: true } : {}),
    ...(input.netns !== undefined ? { netns: input.netns } : {}),
  };
}

const PMEM_ALIGN = 2 * 1024 * 1024;

/**
 * Whether the userland image goes on virtio-pmem (DAX) rather than virtio-blk: not turned off
 * (`disable_image_nvdimm`), a machine with PCI, an image whose size is known and a multiple of
 * 2 MiB (the image builder pads it), and room for it between the memory and the maximum memory
 * (QEMU maps the device there). Pure.
 */
function userlandOnPmem(
  cfg: ResolvedConfig,
  imageBytes: number | undefined,
  spareMiB: number,
): boolean {
  const h = cfg.hypervisor;
  if (h.disableImageNvdimm || h.machineType === "microvm" || imageBytes === undefined) return false;
  if (imageBytes <= 0 || imageBytes % PMEM_ALIGN !== 0) return false;
  return imageBytes <= spareMiB * 1024 * 1024;
}

/** The size of the userland image in bytes; undefined when there is none or it cannot be read. */
export async function imageBytes(image: string): Promise<number | undefined> {
  if (image === "") return undefined;
  const st = await Deno.stat(image).catch(() => undefined);
  return st?.isFile ? st.size : undefined;
}

function words(s: string): string[] {
  return s.split(/\s+/).filter((w) => w !== "");
}

/** Later parameters win over earlier ones with the same key. */
function dedupe(params: readonly string[]): string[] {
  const byKey = new Map<string, string>();
  for (const p of params) {
    const k = p.split("=")[0] ?? p;
    byKey.delete(k); // a later one takes the later place
    byKey.set(k, p);
  }
  return [...byKey.values()];
}

/** A hostname from the sandbox id: letters, digits and "-", at most 63 characters. */
export function safeHostname(id: string): string {
  const h = id.replace(/[^A-Za-z0-9-]/g, "-").replace(/^-+/, "").slice(0, 63);
  return h === "" ? "cocoon" : h;
}

/** The `cmdline` of the guest image manifest next to `kernel` ("" when there is none). */
export async function imageCmdline(kernel: string): Promise<string> {
  try {
    const real = await Deno.realPath(kernel);
    const text = await Deno.readTextFile(`${real.slice(0, real.lastIndexOf("/"))}/manifest.json`);
    const m: unknown = JSON.parse(text);
    if (typeof m === "object" && m !== null && "cmdline" in m && typeof m.cmdline === "string") {
      return m.cmdline;
    }
  } catch {
    // no manifest: an image not built by runtime/guest
  }
  return "";
}

/** Host memory and CPU count, for `default_maxmemory = 0` and `default_maxvcpus = 0`. */
export function hostFacts(): { hostMemoryMiB?: number; hostCpus?: number } {
  const out: { hostMemoryMiB?: number; hostCpus?: number } = {};
  try {
    out.hostMemoryMiB = Math.floor(Deno.systemMemoryInfo().total / (1024 * 1024));
  } catch {
    // no sys permission: no memory hotplug headroom
  }
  if (typeof navigator !== "undefined" && navigator.hardwareConcurrency > 0) {
    out.hostCpus = navigator.hardwareConcurrency;
  }
  return out;
}
