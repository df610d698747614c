/**
 * `shared_fs = "auto"` (the shipped default): the fastest shared filesystem that works on this host.
 * virtio-fs is 1.7–4.4x faster than virtio-9p here (issue 5's `deno task bench fileio`) but needs
 * virtiofsd, which Debian 12 lacks (`cocoon check` says how to install Debian 13's privately). So
 * "auto" means virtio-fs when a working virtiofsd is found (`virtio_fs_daemon`, else the private
 * install), else virtio-9p. VM templates (`[factory] enable_template`) cannot carry a vhost-user-fs
 * device across a template clone, so with templates on "auto" is virtio-9p.
 *
 * `resolveConfig` is pure and leaves "auto" at virtio-9p; `loadConfig` calls
 * {@link resolveSharedFsAuto}, which probes virtiofsd once.
 *
 * @module
 */
import { findVirtiofsd, type VirtiofsdCommand } from "../../plugins/storage/virtio-fs/virtiofsd.ts";
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
  if (cfg.factory.enableTemplate) {
    return pick("virtio-9p", "VM templates are on ([factory] enable_template) and cannot clone virtio-fs");
  }
  const found = await (opts.probe ?? defaultProbe)(h.virtioFsDaemon);
  return found === undefined
    ? pick("virtio-9p", "no working virtiofsd found")
    : pick("virtio-fs", `virtiofsd ${found.version} at "${found.argv[found.argv.length - 1] ?? ""}"`);
}
