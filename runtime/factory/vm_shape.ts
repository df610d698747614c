/**
 * The shape of a sandbox VM without its per-VM names and paths: a cached VM serves a sandbox only
 * when both have the same shape key.
 *
 * @module
 */
import type { VmConfig } from "../../plugins/types.ts";

/** Hex SHA-256 (first 32 characters) of the VM's shape. */
export async function vmShapeKey(config: VmConfig): Promise<string> {
  const shape = {
    kernel: config.kernel,
    initrd: config.initrd ?? null,
    kernelParams: config.kernelParams.filter((p) => !p.startsWith("cocoon.hostname=")),
    vcpus: config.vcpus,
    maxVcpus: config.maxVcpus,
    memoryMiB: config.memoryMiB,
    maxMemoryMiB: config.maxMemoryMiB,
    accelerator: config.accelerator,
    agentChannel: config.agentChannel,
    debugConsole: config.debugConsole === true,
    devices: config.devices.map((d) => d.kind === "share-fs" ? { ...d, source: "" } : d),
  };
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(JSON.stringify(shape)));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("").slice(0, 32);
}
