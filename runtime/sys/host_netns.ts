/**
 * Whether a network namespace path is the host's own (that of PID 1): a pod given it would have a
 * network model move or mirror the host's interfaces into the VM (tcfilter redirects every packet
 * of the namespace's interfaces). Namespaces are compared by the device and inode of their nsfs
 * file, as `ip netns identify` does.
 *
 * @module
 */

async function nsId(path: string): Promise<string | undefined> {
  try {
    const s = await Deno.stat(path);
    return `${s.dev}:${s.ino}`;
  } catch {
    return undefined;
  }
}

/** True when `path` names the same network namespace as `hostNs` (default PID 1's). */
export async function isHostNetns(path: string, hostNs = "/proc/1/ns/net"): Promise<boolean> {
  const [a, b] = await Promise.all([nsId(path), nsId(hostNs)]);
  return a !== undefined && a === b;
}
