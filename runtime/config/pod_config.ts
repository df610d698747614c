/**
 * A pod's own configuration file (containerd's runtime options `ConfigPath`, `ctr
 * --runtime-config-path`) changes what the daemon does as root for that pod: which kernel and
 * image boot, which paths are shared, which plugins load. So the daemon takes one only from a
 * directory its own configuration trusts (`[runtime] pod_config_dirs`, default /etc/cocoon), only
 * when the file and every directory above it up to there belong to root and nobody else may
 * write them, and never with a `[plugins]` table (code is loaded from the daemon's own
 * configuration only).
 *
 * @module
 */
import { RuntimeError } from "../errors.ts";
import type { ResolvedConfig } from "./schema.ts";

function refuse(path: string, why: string): RuntimeError {
  return new RuntimeError("PermissionDenied", `Cannot use pod configuration "${path}": ${why}`);
}

/** Owned by root, and not writable by group or others. */
function safe(st: Deno.FileInfo): boolean {
  return st.uid === 0 && ((st.mode ?? 0o777) & 0o022) === 0;
}

/**
 * The canonical path of `path` when the daemon may load it as a pod's configuration.
 *
 * @throws {RuntimeError} `PermissionDenied` naming what is wrong, `NotFound` when it is missing.
 */
export async function checkPodConfigFile(path: string, trustedDirs: readonly string[]): Promise<string> {
  let real: string;
  try {
    real = await Deno.realPath(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new RuntimeError("NotFound", `Cannot use pod configuration "${path}": it does not exist`);
    }
    throw e;
  }
  const dirs: string[] = [];
  for (const d of trustedDirs) dirs.push(await Deno.realPath(d).catch(() => d));
  const base = dirs.find((d) => real.startsWith(`${d.replace(/\/+$/, "")}/`));
  if (base === undefined) {
    throw refuse(
      path,
      `it is not under ${
        trustedDirs.map((d) => `"${d}"`).join(", ")
      } ([runtime] pod_config_dirs of the daemon's configuration)`,
    );
  }
  const st = await Deno.stat(real);
  if (!st.isFile) throw refuse(path, "it is not a regular file");
  if (!safe(st)) {
    throw refuse(
      path,
      `it must belong to root and be writable by root only (uid ${st.uid}, mode ${
        ((st.mode ?? 0) & 0o777).toString(8)
      })`,
    );
  }
  for (
    let d = real.slice(0, real.lastIndexOf("/"));
    d.length >= base.replace(/\/+$/, "").length && d !== "";
    d = d.slice(0, d.lastIndexOf("/"))
  ) {
    if (!safe(await Deno.stat(d))) {
      throw refuse(path, `directory "${d}" must belong to root and be writable by root only`);
    }
  }
  return real;
}

/** @throws {RuntimeError} `PermissionDenied` when a pod's configuration has a `[plugins]` table. */
export function checkPodConfig(cfg: ResolvedConfig, path: string): ResolvedConfig {
  if (cfg.raw["plugins"] !== undefined) {
    throw refuse(
      path,
      "a pod's configuration may not load plugins ([plugins]); put them in the daemon's configuration",
    );
  }
  return cfg;
}
