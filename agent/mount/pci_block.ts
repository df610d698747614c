/**
 * Block storages hot-plugged by the host are named by their PCI address
 * (`/sys/bus/pci/devices/0000:01:00.0`): the guest decides the /dev name. This finds the disk node
 * below that PCI device (`…/virtio<N>/block/<name>` → `/dev/<name>`), waiting for the kernel to
 * create it.
 *
 * @module
 */
import { RuntimeError } from "../../runtime/errors.ts";

const PCI_PREFIX = "/sys/bus/pci/devices/";

/** Whether `source` names a PCI device rather than a /dev node. Pure. */
export function isPciSource(source: string): boolean {
  return source.startsWith(PCI_PREFIX) && !source.slice(PCI_PREFIX.length).includes("..");
}

/** The /dev node of the disk below PCI device `source`, waiting up to `timeoutMs` for it. */
export async function resolvePciBlock(source: string, timeoutMs = 10_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const name = await findDisk(source);
    if (name !== undefined) return `/dev/${name}`;
    if (Date.now() >= deadline) {
      throw new RuntimeError(
        "NotFound",
        `Cannot find the disk of PCI device "${source}": no block device appeared below it`,
      );
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function findDisk(pciDir: string): Promise<string | undefined> {
  try {
    for await (const e of Deno.readDir(pciDir)) {
      if (!e.name.startsWith("virtio")) continue;
      try {
        for await (const b of Deno.readDir(`${pciDir}/${e.name}/block`)) {
          if (await Deno.stat(`/dev/${b.name}`).then(() => true, () => false)) return b.name;
        }
      } catch { /* not a block virtio device (yet) */ }
    }
  } catch { /* the PCI device is not there yet */ }
  return undefined;
}
