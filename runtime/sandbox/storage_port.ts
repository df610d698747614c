/**
 * The core's view of a storage plugin: the contract is `StorageBackend` in plugins/types.ts.
 *
 * @module
 */
import { type GuestStorage, SHARED_DRIVER, type StorageBackend } from "../../plugins/types.ts";

/** A storage plugin as the core uses it. */
export type SandboxStorage = StorageBackend;

/** The guest path where a storage is visible. */
export function guestPathOf(s: GuestStorage): string {
  return s.driver === SHARED_DRIVER ? s.source : s.mountPoint;
}
