/**
 * createContainer: shares the rootfs and bind mount sources with the guest (through the storage
 * plugins), rewrites the spec to guest paths and asks the agent to create the container (its init
 * waits for `start`). Rolls back everything on failure.
 *
 * @module
 */
import type { GuestStorage, OciMount } from "../../plugins/types.ts";
import { SandboxError } from "../errors.ts";
import { containerId } from "../ids.ts";
import { checkRootfs } from "../oci/bundle.ts";
import type { OciSpec } from "../oci/spec.ts";
import { createTimeoutMs, requireAgent, requireVm, type SandboxContext, saveContainer } from "./_context.ts";
import { createMountPoints } from "./_mount_points.ts";
import { toGuestMount } from "./_guest_mount.ts";
import { guestSpec, isBindMount, isDeviceBind, isDiskMount } from "./_guest_spec.ts";
import { guestMountPath, guestRootfsPath } from "./layout.ts";
import type { ContainerRecord, SharedStorage } from "./records.ts";
import { SHARED_DRIVER } from "../../plugins/types.ts";
import { guestPathOf } from "./storage_port.ts";
import { canCreateContainer, now, refuse } from "./status.ts";

export interface CreateContainerOptions {
  readonly id: string;
  /** The validated OCI spec (`parseOciSpec`, `loadBundle`). */
  readonly spec: OciSpec;
  /** Absolute host path of the rootfs: a directory, a block device or an image file. */
  readonly rootfs: string;
  readonly bundle?: string | null;
  /** Open a stdin pipe to the container (default false). */
  readonly stdin?: boolean;
  readonly signal?: AbortSignal;
}

/** Which storage plugin shares `path`: disks (block devices, image files) go to virtio-blk. */
async function pluginFor(ctx: SandboxContext, path: string, what: string, disk: boolean): Promise<string> {
  if (disk) return "virtio-blk"; // the caller stat-ed it already
  const st = await Deno.stat(path).catch((e) => {
    throw new SandboxError("NotFound", `Cannot share ${what} "${path}": it does not exist`, { cause: e });
  });
  if (st.isBlockDevice === true || (st.isFile && what === "rootfs")) return "virtio-blk";
  const shared = ctx.record.prepared[0]?.plugin;
  if (shared === undefined) {
    throw new SandboxError(
      "FailedPrecondition",
      `Cannot share ${what} "${path}": the sandbox has no shared filesystem (shared_fs = "none")`,
    );
  }
  return shared;
}

export async function createContainer(
  ctx: SandboxContext,
  opts: CreateContainerOptions,
): Promise<ContainerRecord> {
  const cid = containerId(opts.id);
  const sid = ctx.record.id;
  const what = `container "${cid}"`;
  if (!canCreateContainer(ctx.record.status)) {
    throw refuse("create", `${what} in sandbox "${sid}"`, ctx.record.status);
  }
  const agent = requireAgent(ctx, `create ${what}`);
  const vm = requireVm(ctx, `create ${what} in`);
  const process = opts.spec.process;
  if (process === null) {
    throw new SandboxError("InvalidArgument", `Cannot create ${what}: the OCI spec has no "process"`);
  }
  await checkRootfs(opts.rootfs);
  const repo = ctx.rt.repo;
  await repo.claimContainerId(cid, sid);
  const undo: { what: string; run: () => Promise<unknown> }[] = [
    { what: "release the id", run: () => repo.releaseContainerId(cid) },
  ];
  const storages: SharedStorage[] = [];
  let record: ContainerRecord = {
    schema: 1,
    id: cid,
    sandboxId: sid,
    createdAt: now(),
    status: { kind: "creating", since: now() },
    bundle: opts.bundle ?? null,
    rootfs: opts.rootfs,
    terminal: process.terminal,
    storages,
    execs: {},
    annotations: opts.spec.annotations,
  };
  const prepared = (plugin: string) => ctx.record.prepared.find((p) => p.plugin === plugin);
  const share = async (
    mount: OciMount,
    guestPath: string,
    kind: string,
    disk = false,
  ): Promise<GuestStorage> => {
    const name = await pluginFor(ctx, mount.source ?? "", kind, disk);
    const plugin = await ctx.rt.storage(name);
    const p = prepared(name);
    const s = await plugin.share(mount, { sandbox: sid, vm, guestPath, ...(p ? { prepared: p } : {}) });
    storages.push({ plugin: name, storage: s });
    undo.push({
      what: `unshare ${s.source}`,
      run: () => plugin.unshare(s, { vm, ...(p ? { prepared: p } : {}) }),
    });
    return s;
  };
  try {
    record = await saveContainer(ctx, record);
    undo.push({ what: "delete the record", run: () => repo.deleteContainer(sid, cid) });
    // a read-only root is read-only on the host too: its mount points are made first
    const readonlyRoot = opts.spec.root.readonly;
    if (readonlyRoot) await createMountPoints(opts.rootfs, opts.spec.mounts);
    const root = await share(
      {
        destination: "/",
        type: "bind",
        source: opts.rootfs,
        options: readonlyRoot ? ["rbind", "ro"] : ["rbind"],
      },
      guestRootfsPath(cid),
      "rootfs",
    );
    const sources: (string | undefined)[] = [];
    for (const [i, m] of opts.spec.mounts.entries()) {
      const st = m.source?.startsWith("/") ? await Deno.stat(m.source).catch(() => null) : null;
      if (st !== null && isDiskMount(m, st)) {
        sources.push(guestPathOf(await share(m, guestMountPath(cid, i), `disk of "${m.destination}"`, true)));
        continue;
      }
      if (!isBindMount(m) || isDeviceBind(m) || m.source === undefined) {
        sources.push(undefined);
        continue;
      }
      sources.push(guestPathOf(await share(m, guestMountPath(cid, i), `mount source of "${m.destination}"`)));
    }
    record = await saveContainer(ctx, { ...record, storages: [...storages] });
    const spec = guestSpec(opts.spec.raw, {
      rootPath: guestPathOf(root),
      mounts: opts.spec.mounts,
      mountSources: sources,
    });
    const pid = await agent.createContainer({
      id: cid,
      spec,
      storages: storages.map((s) => s.storage).filter((s) => s.driver !== SHARED_DRIVER).map(toGuestMount),
      stdio: { stdin: opts.stdin ?? false, stdout: true, stderr: true, terminal: process.terminal },
    }, { timeoutMs: createTimeoutMs(ctx), ...(opts.signal ? { signal: opts.signal } : {}) });
    undo.push({ what: "remove it in the guest", run: () => agent.removeContainer(cid, {}) });
    record = await saveContainer(ctx, { ...record, status: { kind: "created", pid } });
    ctx.log.info("container created", { container: cid, pid, storages: storages.length });
    return record;
  } catch (e) {
    ctx.log.warn("container create failed, rolling back", { container: cid, error: e });
    for (const u of undo.reverse()) {
      try {
        await u.run();
      } catch (ue) {
        ctx.log.error("rollback step failed", { container: cid, step: u.what, error: ue });
      }
    }
    throw e;
  }
}
