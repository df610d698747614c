/**
 * `shared_fs = "auto"` (the shipped default): the fastest shared filesystem that works on this host.
 * virtio-fs is 1.7–4.4x faster than virtio-9p here (issue 5's `deno task bench fileio`) but needs
 * virtiofsd, which Debian 12 lacks (`cocoon check` says how to install Debian 13's privately). So
 * "auto" means virtio-fs when a working virtiofsd is found (`virtio_fs_daemon`, else the private
 * install), else virtio-9p. VM templates (`[factory] enable_template`) cannot carry a vhost-user-fs
 * device across a template clone, so with templates on "auto" is virtio-9p; the same with the VM
 * cache on (`vm_cache_number > 0`), whose VMs are booted before their sandbox exists.
 *
 * `resolveConfig` is pure and leaves "auto" at virtio-9p; `loadConfig` calls
 * {@link resolveSharedFsAuto}, which probes virtiofsd once.
 *
 * @module
 */
import { findVirtiofsd, type VirtiofsdCommand } from "../sys/virtiofsd.ts";
import type { ResolvedConfig } from "./schema.ts";

/** Finds a working virtiofsd for the configured command line, or undefined. */
export type VirtiofsdProbe = (configured: string) => Promise<VirtiofsdCommand | undefined>;

const defaultProbe: VirtiofsdProbe = (configured) => findVirtiofsd(configured).catch(() => undefined);

/** Decides `shared_fs = "auto"`; other values are returned as they are. */
export async function resolveSharedFsAuto(
  cfg: ResolvedConfig,
  opts: { probe?: VirtiofsdProbe } = {},
): Promise<ResolvedConfig> {
  const h = cfg.hypervisor;
  if (h.sharedFsAuto === undefined) return cfg;
  const pick = (sharedFs: "virtio-9p" | "virtio-fs", why: string): ResolvedConfig => ({
    ...cfg,
    hypervisor: { ...h, sharedFs, sharedFsAuto: why },
  });
  const factoryWhy = factoryNeeds9p(cfg);
  if (factoryWhy !== undefined) return pick("virtio-9p", factoryWhy);
  const found = await (opts.probe ?? defaultProbe)(h.virtioFsDaemon);
  return found === undefined
    ? pick("virtio-9p", "no working virtiofsd found")
    : pick("virtio-fs", `virtiofsd ${found.version} at "${found.argv[found.argv.length - 1] ?? ""}"`);
}

/** Why the factory settings rule virtio-fs out, or undefined. Pure. */
function factoryNeeds9p(cfg: ResolvedConfig): string | undefined {
  if (cfg.factory.enableTemplate) {
    return "VM templates are on ([factory] enable_template) and cannot clone virtio-fs";
  }
  if (cfg.factory.vmCacheNumber > 0) {
    return "the VM cache is on ([factory] vm_cache_number > 0): cached VMs boot before their sandbox's share exists";
  }
  return undefined;
}

/**
 * Re-decides "auto" after per-pod annotations: a pod that turns templates on
 * (`io.cocoon.config.factory.enable_template`) gets virtio-9p where "auto" had picked virtio-fs.
 * Explicit `shared_fs` values are left alone (the factory refuses them clearly). Pure.
 */
export function sharedFsForPod(cfg: ResolvedConfig): ResolvedConfig {
  const h = cfg.hypervisor;
  if (h.sharedFsAuto === undefined || h.sharedFs !== "virtio-fs") return cfg;
  const why = factoryNeeds9p(cfg);
  return why === undefined ? cfg : { ...cfg, hypervisor: { ...h, sharedFs: "virtio-9p", sharedFsAuto: why } };
}
