/**
 * What the Cocoon host program is granted: everything (`--allow-all`), for reasons a narrower grant
 * cannot get around (docs/decisions.md, "Permissions of the installed program"):
 *
 * - Deno 2 serves /proc/<pid>/* and /proc/self/mountinfo only to --allow-all. A runtime reads both
 *   all the time: a process's start time (pid-reuse-safe liveness of holders, daemons and QEMU) and
 *   the mount table (the guard that keeps a recursive delete out of bind-mounted host data).
 * - An allow-run list cannot be honoured: Deno resolves its names against the PATH the caller
 *   started us with (conmon passes none), refuses a spawn whose environment has an LD_* variable
 *   unless every program may run, and wants unrestricted run for Deno.kill. The tools on such a list
 *   (sh, nsenter, mount, setsid) run anything anyway, and --allow-ffi alone reaches all of libc.
 *
 * Plugins still declare what they need in their manifests: the loader checks a third-party plugin
 * against what the process holds, and `cocoon plugins` shows each.
 */
export const HOST_ALLOW_FLAGS: readonly string[] = [
  "--allow-all",
  // third-party plugins run in Workers with their manifest's permissions (runtime/plugins/confined.ts)
  "--unstable-worker-options",
];

/** The guest agent runs as root inside the VM and drives crun/runc, mounts and networking there. */
export const AGENT_PERMISSIONS: Deno.PermissionOptionsObject = {
  read: true,
  write: true,
  env: true,
  sys: true,
  ffi: true,
  net: true,
  run: true,
};
