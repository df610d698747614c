/**
 * Storage translation: proto `Storage` → {@link GuestStorageSpec}, and the mount/unmount bookkeeping
 * per owner (a container id, or "" for sandbox-wide storage).
 *
 * @module
 */
import type { Storage } from "../../runtime/protocol/gen/cocoon/agent/v1/types_pb.ts";
import type { AgentCore } from "../core.ts";
import { type GuestStorageSpec, mountStorage, storageDriver, unmount } from "../mount/mount.ts";

function storageOf(s: Storage): GuestStorageSpec {
  return {
    driver: storageDriver(s.driver),
    driverOptions: s.driverOptions,
    source: s.source,
    fsType: s.fsType,
    options: s.options,
    mountPoint: s.mountPoint,
    readOnly: s.readOnly,
  };
}

/** Mounts storages in order for `owner`; on failure unmounts what this call mounted. */
export async function mountAll(core: AgentCore, owner: string, storages: readonly Storage[]): Promise<void> {
  const done: string[] = [];
  try {
    for (const s of storages) {
      const spec = storageOf(s);
      await mountStorage(core.env.runner, spec);
      done.push(spec.mountPoint);
    }
  } catch (e) {
    for (const mp of done.reverse()) await unmount(core.env.runner, mp).catch(() => {});
    throw e;
  }
  core.mounts.set(owner, [...(core.mounts.get(owner) ?? []), ...done]);
}

/** Unmounts everything mounted for `owner`, newest first. */
export async function unmountAll(core: AgentCore, owner: string): Promise<void> {
  const mps = core.mounts.get(owner) ?? [];
  core.mounts.delete(owner);
  for (const mp of [...mps].reverse()) {
    await unmount(core.env.runner, mp).catch((e) =>
      core.log.warn("unmount failed", { mountPoint: mp, error: e })
    );
  }
}
