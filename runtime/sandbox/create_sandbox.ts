/**
 * createSandbox: prepares the shared directory, attaches the network, boots the VM (or, with
 * `[factory] enable_template`, clones it from a template of its shape), waits for the agent and
 * asks it to set up the sandbox. Every step is persisted; a failure at any step undoes
 * the steps before it (newest first), so nothing is left: no VM, socket, mount, directory, record.
 *
 * @module
 */
import { unprotect } from "../sys/oom_score.ts";
import { readFileTail } from "../sys/file_tail.ts";
import type { NetworkAttachment, Vm } from "../../plugins/types.ts";
import { applyAnnotations } from "../config/annotations.ts";
import { sharedFsForPod } from "../config/shared_fs.ts";
import type { ResolvedConfig } from "../config/schema.ts";
import { SandboxError } from "../errors.ts";
import { sandboxId } from "../ids.ts";
import { connectAgent, newContext, type SandboxContext, saveSandbox } from "./_context.ts";
import type { AgentApi } from "./agent_port.ts";
import { toGuestMount } from "./_guest_mount.ts";
import { removeTree } from "../sys/safe_remove.ts";
import { consoleLogPath, sandboxDir, sandboxesRoot } from "./layout.ts";
import type { PreparedStorage, SandboxRecord } from "./records.ts";
import type { SandboxRuntime } from "./runtime.ts";
import { now } from "./status.ts";
import { buildVmConfig, hostFacts, imageBytes, imageCmdline, safeHostname } from "./vm_config.ts";
import { factoryName, factoryOptions, openFactory } from "../factory/factory.ts";
import { adoptCachedDir, attachCached } from "./cache_adopt.ts";
import { ownerRecord } from "./owner.ts";
import { takeCachedVm } from "../factory/cache_client.ts";
import { attachNetwork, configureGuestNetwork } from "./network.ts";
import { checkVmSize, NO_EXTRA, type PodSize, sizedConfig } from "./sizing.ts";
import { placeSandboxVmm, vmmCgroupTarget } from "./_vmm_cgroup.ts";
import { leaveHostCgroup } from "../sys/host_cgroup.ts";
import { closeOnExec } from "../sys/libc_fd.ts";

export interface CreateSandboxOptions {
  /** Sandbox id (runc id rules). */
  readonly id: string;
  /** OCI annotations: `io.cocoon.config.*` overrides pass through the config's allow-lists. */
  readonly annotations?: Readonly<Record<string, string>>;
  /** Network namespace to attach the VM to (path or name); none when absent. */
  readonly netns?: string | null;
  readonly hostname?: string;
  /** What the VM gets beyond its configured size (an OCI container's resources: sizing.ts). */
  readonly size?: PodSize;
  /**
   * The pod's host cgroup (OCI `linux.cgroupsPath`): QEMU and virtiofsd are moved there. Absent:
   * a group Cocoon makes for the sandbox (refused with `sandbox_cgroup_only = true`).
   */
  readonly cgroupsPath?: string;
  /** Who holds the sandbox whenever no program does (records.ts `keeper`). */
  readonly keeper?: "daemon";
  /** Called as each host step of the start ends (a start-up waterfall: runtime/waterfall/). */
  readonly onStage?: (stage: HostStage) => void;
  readonly signal?: AbortSignal;
}

/** The host steps of a sandbox start, in order ({@link CreateSandboxOptions.onStage}). */
export type HostStage =
  | "shared fs prepared"
  | "network attached"
  | "VM started"
  | "VM in its cgroup"
  | "agent connected"
  | "guest sandbox set up"
  | "sandbox ready";

const SHARED_FS_PLUGINS: Readonly<Record<ResolvedConfig["hypervisor"]["sharedFs"], string | null>> = {
  "virtio-9p": "9p",
  "virtio-fs": "virtio-fs",
  none: null,
};

/** The storage plugin behind `shared_fs`, or null for "none". */
export function sharedFsPlugin(cfg: ResolvedConfig): string | null {
  return SHARED_FS_PLUGINS[cfg.hypervisor.sharedFs];
}

/**
 * Creates and starts a sandbox.
 *
 * @throws {SandboxError} `AlreadyExists` when the id is taken; any plugin or agent error, after
 * rolling back.
 */
export async function createSandbox(rt: SandboxRuntime, opts: CreateSandboxOptions): Promise<SandboxContext> {
  const id = sandboxId(opts.id);
  const annotations = opts.annotations ?? {};
  const host = hostFacts();
  const annotated = sharedFsForPod(applyAnnotations(rt.config, annotations));
  checkVmSize(annotated, host);
  const cfg = sizedConfig(annotated, opts.size ?? NO_EXTRA, host);
  const signal = opts.signal;
  const sig = signal ? { signal } : {};
  const cgroupTarget = vmmCgroupTarget(cfg, id, opts.cgroupsPath);
  if (await rt.repo.findSandbox(id) !== undefined) {
    throw new SandboxError("AlreadyExists", `Cannot create sandbox "${id}": a sandbox with this id exists`);
  }
  const dir = sandboxDir(cfg.runtime.stateDir, id);
  await Deno.mkdir(sandboxesRoot(cfg.runtime.stateDir), { recursive: true, mode: 0o711 });
  // the VM cache serves pods without a network namespace (its VMs run outside any pod's netns)
  const cached = cfg.factory.vmCacheNumber > 0 && !opts.netns ? await takeCachedVm(cfg) : undefined;
  try {
    if (cached !== undefined) await adoptCachedDir(rt, cached, dir);
    else await Deno.mkdir(dir, { mode: 0o700 });
  } catch (e) {
    if (e instanceof Deno.errors.AlreadyExists) {
      throw new SandboxError("AlreadyExists", `Cannot create sandbox "${id}": directory "${dir}" exists`, {
        cause: e,
      });
    }
    throw e;
  }
  const record: SandboxRecord = {
    schema: 1,
    id,
    createdAt: now(),
    status: { kind: "creating", since: now() },
    dir,
    hypervisor: rt.hypervisorName,
    vm: null,
    vcpus: cfg.hypervisor.defaultVcpus,
    memoryMiB: cfg.hypervisor.defaultMemory,
    agentTimeoutSeconds: cfg.agent.dialTimeoutSeconds,
    network: null,
    prepared: [],
    annotations,
    owner: await ownerRecord(rt.owner),
    ...(opts.keeper !== undefined ? { keeper: opts.keeper } : {}),
  };
  const ctx = newContext(rt, record);
  const undo: { what: string; run: () => Promise<unknown> }[] = [
    { what: "remove the sandbox directory", run: () => removeTree(dir) },
  ];
  const t0 = performance.now();
  const stage = (s: HostStage) => opts.onStage?.(s);
  try {
    await saveSandbox(ctx, record);
    undo.push({ what: "delete the record", run: () => rt.repo.deleteSandbox(id) });

    // Shared filesystem for directory rootfs and bind mounts.
    const shareName = sharedFsPlugin(cfg);
    if (shareName !== null) {
      const share = await rt.storage(shareName);
      await share.check?.(sig);
      const p = await share.prepareSandbox?.({ sandbox: id, dir, ...sig });
      if (p !== undefined) {
        const prepared: PreparedStorage = { plugin: shareName, ...p };
        undo.push({
          what: `release ${shareName} share`,
          run: () => share.releaseSandbox?.(p, { sandbox: id, dir }) ?? Promise.resolve(),
        });
        await saveSandbox(ctx, { ...ctx.record, prepared: [prepared] });
      }
      stage("shared fs prepared");
    }

    // Network: only when the spec names a network namespace (none: the guest has only lo).
    let attachment: NetworkAttachment = { endpoints: [], devices: [] };
    const netns = opts.netns ?? undefined;
    if (netns) {
      const model = cfg.runtime.internetworkingModel;
      const net = await rt.network(model);
      attachment = await attachNetwork(net, netns, { sandbox: id, ...sig });
      // From here on a failure detaches (also what attach made before failing half-way).
      undo.push({ what: `detach network "${model}"`, run: () => net.detach(netns, attachment) });
      await saveSandbox(ctx, { ...ctx.record, network: { plugin: model, netns, attachment } });
      stage("network attached");
    }

    // The VM.
    const vmConfig = buildVmConfig(cfg, {
      id,
      dir,
      devices: [...ctx.record.prepared.flatMap((p) => p.devices), ...attachment.devices],
      imageCmdline: await imageCmdline(cfg.hypervisor.kernel),
      imageBytes: await imageBytes(cfg.hypervisor.image),
      ...(netns ? { netns } : {}),
      ...(opts.hostname !== undefined ? { hostname: opts.hostname } : {}),
      ...host,
    });
    // a VM from the cache, else from the template factory, else booted here
    let taken: Vm | undefined;
    if (cached !== undefined) {
      taken = await attachCached(ctx, cached, vmConfig, opts.hostname ?? id).catch((e: unknown) => {
        ctx.log.warn("cannot use the cached VM: booting one instead", { error: e });
        return undefined;
      });
    }
    if (taken === undefined && factoryName(cfg) === "template") {
      // a clone of the template of this VM's shape (built now when missing), its own devices hot-plugged
      const factory = await openFactory(cfg, "template", { log: rt.log });
      const got = await factory.getVm(vmConfig, {
        ...factoryOptions(rt, ctx.log, sig),
        hostname: safeHostname(opts.hostname ?? id),
      });
      taken = got.vm;
    }
    const vm = taken ?? await rt.hypervisor.createVm(vmConfig, sig);
    undo.push({ what: "stop the VM", run: () => vm.stop({ force: true }) });
    if (taken === undefined) {
      closeOnExec(); // the VMM inherits no socket of ours (node:net's are inheritable)
      await vm.start(sig);
    }
    ctx.vm = vm;
    // a VMM never keeps the OOM protection of the daemon that spawned it
    await unprotect(vm.pids());
    stage("VM started");
    await saveSandbox(ctx, { ...ctx.record, vm: vm.saveState() });
    const cgroups = await placeSandboxVmm(ctx, cgroupTarget, vmConfig.memoryMiB);
    undo.push({ what: "leave the host cgroup", run: () => leaveHostCgroup(cgroups) });
    stage("VM in its cgroup");
    const bootMs = performance.now() - t0;

    // The agent.
    const agent = await connectOrExit(ctx, vm, cfg.agent.dialTimeoutSeconds * 1000, signal);
    ctx.agent = agent;
    stage("agent connected");
    undo.push({ what: "close the agent connection", run: () => Promise.resolve(agent.close()) });
    await agent.createSandbox({
      sandboxId: id,
      // The guest hostname comes from the kernel command line (cocoon.hostname=), or for a template
      // clone or cached VM from SetHostname (sethostname(2)): the agent's CreateSandbox hostname
      // write to /proc/sys/kernel/hostname fails with EPERM in the guest.
      ...(opts.hostname !== undefined ? { hostname: opts.hostname } : {}),
      storages: ctx.record.prepared.flatMap((p) => p.storages).map(toGuestMount),
      guestTime: new Date(),
    }, sig);
    stage("guest sandbox set up");
    await configureGuestNetwork(agent, attachment.endpoints, sig);
    await saveSandbox(ctx, { ...ctx.record, status: { kind: "ready", startedAt: now() } });
    stage("sandbox ready");
    ctx.log.info("sandbox ready", {
      bootMs: Math.round(bootMs),
      interfaces: attachment.endpoints.map((e) => e.name),
      readyMs: Math.round(performance.now() - t0),
    });
    return ctx;
  } catch (e) {
    ctx.log.warn("sandbox create failed, rolling back", {
      error: e,
      steps: undo.length,
      console: await consoleTail(consoleLogPath(dir)),
    });
    for (const u of undo.reverse()) {
      try {
        await u.run();
      } catch (ue) {
        ctx.log.error("rollback step failed", { step: u.what, error: ue });
      }
    }
    ctx.agent = undefined;
    ctx.vm = undefined;
    throw e;
  }
}

/** Connects to the agent, failing at once when the VM exits first (a guest that cannot boot). */
async function connectOrExit(
  ctx: SandboxContext,
  vm: Vm,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<AgentApi> {
  const abort = new AbortController();
  const onAbort = () => abort.abort(signal?.reason);
  signal?.addEventListener("abort", onAbort);
  const exited = vm.wait().then((exit) => {
    throw new SandboxError(
      "Unavailable",
      `Cannot create sandbox "${ctx.record.id}": the VM exited before its agent answered (${exit.kind}${
        exit.kind === "crashed" ? `: ${exit.reason}` : ""
      })`,
    );
  });
  try {
    return await Promise.race([
      connectAgent(ctx, vm, { timeoutMs, signal: abort.signal }),
      exited,
    ]);
  } finally {
    abort.abort();
    exited.catch(() => {});
    signal?.removeEventListener("abort", onAbort);
  }
}

/** The end of the console log, read from its end (the file is written by the guest). */
async function consoleTail(path: string): Promise<string> {
  return new TextDecoder().decode(await readFileTail(path, 3000));
}
