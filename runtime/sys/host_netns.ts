/**
 * Whether a network namespace path is the host's own (that of PID 1, or this process's: a container
 * sandbox may hide PID 1's from root): a pod given it would have a
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

/** True when `path` names the same network namespace as one of `hostNs` (PID 1's, ours). */
export async function isHostNetns(
  path: string,
  hostNs: readonly string[] = ["/proc/1/ns/net", "/proc/self/ns/net"],
): Promise<boolean> {
  const a = await nsId(path);
  if (a === undefined) return false;
  for (const h of hostNs) if (await nsId(h) === a) return true;
  return false;
}
