/**
 * The environment this process, and so every child it starts (holder, daemon, QEMU, virtiofsd,
 * crun helpers, ip, mount...), runs with. Callers hand Cocoon very different environments: conmon
 * (podman) a bare one without PATH, containerd its own, dockerd's shim whatever dockerd had, a user
 * `env -i` or a login shell. `cleanProcessEnv()` runs once at start-up, before any verb:
 *
 * - the dynamic loader's variables (`LD_*`, and `DYLD_*` for completeness) are dropped: they would
 *   change what the root-owned children load, and Deno refuses to spawn with them unless every
 *   program may run;
 * - PATH gets the usual system directories appended when missing (conmon passes none, and host
 *   tools such as mount, ip and qemu-system-x86_64 live there).
 *
 * Everything else stays: the shim protocol passes its addresses (TTRPC_ADDRESS, NAMESPACE...) in
 * the environment.
 *
 * @module
 */

export const SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** Names of variables that steer the dynamic loader. Pure. */
export function isLoaderVariable(name: string): boolean {
  return name.startsWith("LD_") || name.startsWith("DYLD_");
}

/** `path` with the system directories appended where missing. Pure. */
export function withSystemPath(path: string | undefined): string {
  const parts = (path ?? "").split(":").filter((d) => d !== "");
  for (const d of SYSTEM_PATH.split(":")) if (!parts.includes(d)) parts.push(d);
  return parts.join(":");
}

/** Cleans this process's environment in place (see the module comment). Returns the PATH in effect. */
export function cleanProcessEnv(): string {
  for (const name of Object.keys(Deno.env.toObject())) {
    if (isLoaderVariable(name)) Deno.env.delete(name);
  }
  const path = withSystemPath(Deno.env.get("PATH"));
  Deno.env.set("PATH", path);
  return path;
}
