/**
 * Helpers for this plugin's real-QEMU tests.
 *
 * @module
 */
import { createLogger, nullSink } from "../../../runtime/log/logger.ts";
import { deviceId, sandboxId } from "../../../runtime/ids.ts";
import type { Device, VmConfig } from "../../types.ts";
import { ensureTestGuest } from "./_test_guest.ts";
import { DEFAULT_QEMU_CONFIG, type QemuConfig } from "./config.ts";
import { createQemuHypervisor } from "./hypervisor.ts";
import { manifest } from "./manifest.ts";

const REPO = new URL("../../../", import.meta.url).pathname.replace(/\/$/, "");

/** The manifest's permissions plus what building the test guest and spawning Deno need. */
export const TEST_PERMISSIONS: Deno.PermissionOptionsObject = {
  run: [
    ...list(manifest.permissions.run),
    "apt-get",
    "apt-cache",
    "dpkg-deb",
    "sh",
    "cpio",
    "gzip",
    Deno.execPath(),
  ],
  read: [...list(manifest.permissions.read), REPO, "/bin/busybox"],
  write: [...list(manifest.permissions.write), `${REPO}/.cache`],
  net: manifest.permissions.net ?? false,
  env: true,
};

function list(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((s): s is string => typeof s === "string") : [];
}

export const quietLog = createLogger({ sink: nullSink });

export function testHypervisor(overrides: Partial<QemuConfig> = {}): ReturnType<typeof createQemuHypervisor> {
  return createQemuHypervisor({
    config: { ...DEFAULT_QEMU_CONFIG, accelerator: "tcg", ...overrides },
    log: quietLog,
  });
}

/** A VM config for the test guest in a fresh state directory under /tmp. */
export async function testVmConfig(name: string, devices: Device[] = []): Promise<VmConfig> {
  const guest = await ensureTestGuest();
  const stateDir = await Deno.makeTempDir({ dir: "/tmp", prefix: "cocoon-qemu-" });
  return {
    id: sandboxId(name),
    stateDir,
    kernel: guest.kernel,
    initrd: guest.initrd,
    kernelParams: [],
    vcpus: 1,
    maxVcpus: 2,
    memoryMiB: 256,
    maxMemoryMiB: 1024,
    devices,
    accelerator: "tcg",
    agentChannel: "virtio-serial",
    consoleLog: `${stateDir}/console.log`,
  };
}

/** Waits until the file contains `text` (after `from` bytes), returns ms waited. */
export async function waitForText(
  path: string,
  text: string | RegExp,
  timeoutMs = 60_000,
  from = 0,
): Promise<number> {
  const t0 = performance.now();
  while (true) {
    const s = await Deno.readTextFile(path).catch(() => "");
    const part = s.slice(from);
    if (typeof text === "string" ? part.includes(text) : text.test(part)) return performance.now() - t0;
    if (performance.now() - t0 > timeoutMs) {
      throw new Error(
        `"${String(text)}" did not appear in ${path} within ${timeoutMs} ms; tail: ${s.slice(-600)}`,
      );
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Files left in a state directory that the plugin should have removed. */
export async function leftovers(stateDir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(stateDir)) {
    if (e.name !== "console.log" && !e.name.endsWith(".img")) out.push(e.name);
  }
  return out.sort();
}

export function blockDevice(id: string, path: string): Device {
  return { kind: "block", id: deviceId(id), path, readOnly: false, driver: "virtio-blk" };
}
