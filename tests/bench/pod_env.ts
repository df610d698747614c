/**
 * Shared set-up of the pod benchmarks (P1-P7): the guest image and a busybox rootfs, a
 * configuration file per start mode (cold boot, template clone, VM cache), one pod started through
 * the library API (`mod.ts`) and timed from `createSandbox` until its container's process has
 * printed, memory readings of a process from /proc/<pid>/smaps_rollup, and whether a QEMU was
 * restored from a template (`-incoming` on its command line).
 *
 * @module
 */
import { makeBusyboxRootfs } from "../../agent/testing/rootfs.ts";
import { createSandbox, type Sandbox } from "../../mod.ts";
import type { GuestImage } from "../../runtime/guest/mod.ts";
import { ensureGuestImage } from "../utils/guest.ts";

/** How a sandbox gets its VM. */
export type StartMode =
  | { readonly kind: "cold" }
  | { readonly kind: "template" }
  | { readonly kind: "cache"; readonly vms: number };

/** vCPUs and memory of every benchmark pod, and of the bare QEMU baseline. */
export const POD_VCPUS = 1;
export const POD_MEMORY_MIB = 512;

/** What a pod benchmark works in: a temp dir, the image, a rootfs. */
export interface PodWorld {
  readonly dir: string;
  readonly image: GuestImage;
  readonly rootfs: string;
  /** Where templates go: a dir on tmpfs (/dev/shm), removed with the world. */
  readonly templatePath: string;
}

/** Runs `fn` with a fresh temp dir, the real agent's image and a busybox rootfs; removes the dir. */
export async function withPodWorld<T>(
  fn: (w: PodWorld) => Promise<T>,
  opts: { signal?: AbortSignal } = {},
): Promise<T> {
  const kernel = Deno.env.get("COCOON_BENCH_KERNEL");
  const image = await ensureGuestImage({
    agent: "real",
    ...(kernel === "tuned" || kernel === "debian" ? { kernel } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  if (image.rootfs === null) throw new Error(`Cannot bench pods: image "${image.dir}" has no userland`);
  const dir = await Deno.makeTempDir({ prefix: "cocoon-pod-bench-" });
  const shm = await Deno.makeTempDir({ dir: "/dev/shm", prefix: "cocoon-bench-" }).catch(() => `${dir}/shm`);
  try {
    return await fn({ dir, image, rootfs: await makeBusyboxRootfs(dir), templatePath: `${shm}/template` });
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    await Deno.remove(shm, { recursive: true }).catch(() => {});
  }
}

/** The TOML of a configuration for `mode`, state under `dir`, templates in `templatePath`. Pure. */
export function benchConfigToml(
  dir: string,
  image: Pick<GuestImage, "kernel" | "initrd" | "rootfs">,
  mode: StartMode,
  templatePath: string,
  freePageReporting = true,
): string {
  const lines = [
    "[hypervisor.qemu]",
    `kernel = ${JSON.stringify(image.kernel)}`,
    `initrd = ${JSON.stringify(image.initrd)}`,
    `image = ${JSON.stringify(image.rootfs ?? "")}`,
    'accelerator = "auto"',
    ...(freePageReporting ? [] : ["free_page_reporting = false"]),
    `default_vcpus = ${POD_VCPUS}`,
    `default_memory = ${POD_MEMORY_MIB}`,
    "default_maxmemory = 1024",
    "default_maxvcpus = 2",
    'shared_fs = "virtio-9p"',
    "[runtime]",
    `state_dir = ${JSON.stringify(`${dir}/run`)}`,
    'store = "fs"',
    'internetworking_model = "none"',
    "[agent]",
    "dial_timeout = 120",
  ];
  if (mode.kind !== "cold") {
    lines.push(
      "[factory]",
      "enable_template = true",
      `template_path = ${JSON.stringify(templatePath)}`,
      ...(mode.kind === "cache" ? [`vm_cache_number = ${mode.vms}`] : []),
    );
  }
  return lines.join("\n") + "\n";
}

/** Writes the configuration of `mode` to `<dir>/<mode>.toml`, state under `<dir>/<mode>`. */
export async function writeBenchConfig(w: PodWorld, mode: StartMode): Promise<string> {
  const path = `${w.dir}/${mode.kind}.toml`;
  const fpr = Deno.env.get("COCOON_BENCH_FPR") !== "off";
  await Deno.writeTextFile(
    path,
    benchConfigToml(`${w.dir}/${mode.kind}`, w.image, mode, w.templatePath, fpr),
  );
  return path;
}

/** A started pod: its sandbox handle, the container running `sleep`, the start time. */
export interface StartedPod {
  readonly sb: Sandbox;
  readonly containerId: string;
  /** createSandbox() until the container's process printed its line, ms. */
  readonly ms: number;
}

/**
 * Creates sandbox `id` and a container whose process prints a line and sleeps; resolves once the
 * line arrived (the process runs). The pod stays up; `stopPod` removes it.
 */
export async function startPod(
  configPath: string,
  rootfs: string,
  id: string,
  opts: { signal?: AbortSignal } = {},
): Promise<StartedPod> {
  const t0 = performance.now();
  const sb = await createSandbox({
    id,
    configPath,
    vcpus: POD_VCPUS,
    memoryMiB: POD_MEMORY_MIB,
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  const containerId = `${id}-c`;
  try {
    await sb.createContainer({ id: containerId, rootfs, args: ["sh", "-c", "echo up; exec sleep 3600"] });
    const init = await sb.startContainer(containerId);
    await readUntil(init.io.stdout, "up\n");
    return { sb, containerId, ms: performance.now() - t0 };
  } catch (e) {
    await sb.delete({ force: true }).catch(() => {});
    throw e;
  }
}

/** Deletes a pod (containers, VM, state), ignoring a pod already gone. */
export async function stopPod(p: StartedPod): Promise<void> {
  await p.sb.delete({ force: true }).catch(() => {});
}

/** Reads `stream` until the text read so far contains `needle`; the rest is drained in the background. */
export async function readUntil(stream: ReadableStream<Uint8Array>, needle: string): Promise<string> {
  const reader = stream.getReader();
  const dec = new TextDecoder();
  let text = "";
  while (!text.includes(needle)) {
    const { done, value } = await reader.read();
    if (done) {
      throw new Error(`Cannot read "${needle.trim()}": the stream ended after ${JSON.stringify(text)}`);
    }
    text += dec.decode(value, { stream: true });
  }
  // Keep draining so that the relay never blocks on a full pipe.
  void (async () => {
    while (!(await reader.read().catch(() => ({ done: true }))).done) { /* drop */ }
  })();
  return text;
}

/** Proportional and resident set size of a process, KiB (0 when it is gone). */
export async function memoryKiB(pid: number): Promise<{ pss: number; rss: number }> {
  const text = await Deno.readTextFile(`/proc/${pid}/smaps_rollup`).catch(() => "");
  return parseSmapsRollup(text);
}

/** The Pss and Rss lines of a smaps_rollup text, KiB. Pure. */
export function parseSmapsRollup(text: string): { pss: number; rss: number } {
  return {
    pss: Number(/^Pss:\s+(\d+) kB/m.exec(text)?.[1] ?? 0),
    rss: Number(/^Rss:\s+(\d+) kB/m.exec(text)?.[1] ?? 0),
  };
}

/** Whether QEMU `pid` was started to restore a migration stream (a template clone). */
export async function restoredFromTemplate(pid: number): Promise<boolean> {
  const argv = (await Deno.readTextFile(`/proc/${pid}/cmdline`).catch(() => "")).split("\0");
  return argv.includes("-incoming");
}

/** Host pids of a pod's VM. */
export async function podPids(p: StartedPod): Promise<readonly number[]> {
  return (await p.sb.status()).pids;
}

/** Rejects after `ms` with "<what> took over <ms> ms"; for steps that could hang. */
export async function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Cannot bench: ${what} took over ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, t]);
  } finally {
    clearTimeout(timer);
  }
}
