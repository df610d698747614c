/**
 * Storage plugin results (`GuestStorage`) to the agent client's `GuestMount`, and the host mount
 * check that guards every recursive removal of a sandbox directory.
 *
 * @module
 */
import type { GuestStorage } from "../../plugins/types.ts";
import type { GuestMount, StorageDriver } from "../agent_client/types.ts";
import { SandboxError } from "../errors.ts";

const DRIVERS: readonly StorageDriver[] = ["9p", "virtio-fs", "virtio-blk", "scsi", "tmpfs", "bind", "local"];

/** The agent's mount request for a storage. Pure. */
export function toGuestMount(s: GuestStorage): GuestMount {
  const driver = DRIVERS.find((d) => d === s.driver);
  if (driver === undefined) {
    throw new SandboxError(
      "Internal",
      `Cannot mount storage "${s.source}" in the guest: driver "${s.driver}" is not one the agent knows`,
    );
  }
  return {
    driver,
    source: s.source,
    mountPoint: s.mountPoint,
    ...(s.fstype !== "" && s.fstype !== "none" ? { fsType: s.fstype } : {}),
    options: s.options,
  };
}

/**
 * Mount points at or under `dir` in this mount namespace (octal escapes decoded). Deno grants /proc
 * mount tables only with --allow-all; without it the table is read through `cat`. Throws when the
 * table cannot be read at all: callers must not assume "no mounts".
 */
export async function hostMountsUnder(dir: string): Promise<string[]> {
  let text: string;
  try {
    text = await Deno.readTextFile("/proc/self/mountinfo");
  } catch {
    const out = await new Deno.Command("cat", {
      args: ["/proc/self/mountinfo"],
      stdout: "piped",
      stderr: "null",
    })
      .output();
    if (!out.success) {
      throw new SandboxError(
        "Internal",
        `Cannot list mounts under "${dir}": /proc/self/mountinfo is not readable`,
      );
    }
    text = new TextDecoder().decode(out.stdout);
  }
  const out: string[] = [];
  for (const line of text.split("\n")) {
    const mp = line.split(" ")[4];
    if (mp === undefined) continue;
    const p = mp.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    if (p === dir || p.startsWith(`${dir}/`)) out.push(p);
  }
  return out;
}

/**
 * Removes a sandbox directory, refusing when anything is still mounted below it: a recursive
 * removal through a bind mount would delete the user's files.
 */
export async function removeSandboxDir(dir: string): Promise<void> {
  const mounts = await hostMountsUnder(dir);
  if (mounts.length > 0) {
    throw new SandboxError(
      "FailedPrecondition",
      `Cannot remove sandbox directory "${dir}": ${mounts.length} mount(s) remain below it, first "${
        mounts[0]
      }"`,
    );
  }
  await Deno.remove(dir, { recursive: true }).catch((e) => {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  });
}
