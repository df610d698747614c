/**
 * Storage plugin results (`GuestStorage`) to the agent client's `GuestMount`.
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
