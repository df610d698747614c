/**
 * The name this process was started under. A compiled `cocoon` reads argv[0] from
 * /proc/self/cmdline (Deno does not expose it); the bundle-mode launcher passes it in
 * `COCOON_ARGV0` (removed here so children do not inherit it).
 *
 * @module
 */
export function invokedName(): string {
  const fromLauncher = Deno.env.get("COCOON_ARGV0");
  if (fromLauncher !== undefined) {
    Deno.env.delete("COCOON_ARGV0");
    return basename(fromLauncher);
  }
  try {
    const cmdline = Deno.readFileSync("/proc/self/cmdline");
    const end = cmdline.indexOf(0);
    return basename(new TextDecoder().decode(end >= 0 ? cmdline.subarray(0, end) : cmdline));
  } catch {
    return "cocoon";
  }
}

function basename(p: string): string {
  return p.slice(p.lastIndexOf("/") + 1);
}

/** The shim v2 binary name containerd looks up for runtime `io.containerd.cocoon.v2`. */
export const SHIM_NAME = "containerd-shim-cocoon-v2";
