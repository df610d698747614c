/**
 * `Sandbox`: the handle every front door holds (OCI CLI holder, shim daemon, sandboxer, mod.ts,
 * HTTP API). Each method is one operation file; the handle only carries the state between them.
 *
 * ```ts
 * const rt = await openSandboxRuntime(await loadConfig());
 * const sb = await Sandbox.create(rt, { id: "sb1" });
 * const spec = parseOciSpec(minimalSpec(["echo", "hi"]), "inline");
 * await sb.createContainer({ id: "c1", spec, rootfs: "/tmp/rootfs" });
 * const out = new Response(sb.io("c1").stdout).text();
 * await sb.startContainer("c1");
 * const { exitStatus } = await sb.wait("c1");
 * await sb.delete();
 * ```
 *
 * @module
 */
import type { AttachedDevice, Device, Vm, VmExit } from "../../plugins/types.ts";
import type { ContainerStats, GuestInterface, GuestRoute } from "../agent_client/types.ts";
import type { ContainerId, SandboxId } from "../ids.ts";
import { containerId } from "../ids.ts";
import { loadContainer, requireAgent, requireVm, type SandboxContext, saveSandbox } from "./_context.ts";
import { createContainer, type CreateContainerOptions } from "./create_container.ts";
import { createSandbox, type CreateSandboxOptions } from "./create_sandbox.ts";
import { deleteContainer, type DeleteContainerOptions } from "./delete.ts";
import { deleteSandbox, type DeleteSandboxOptions, stopSandbox } from "./delete_sandbox.ts";
import { type ExecOptions, execProcess } from "./exec.ts";
import { fetchSandbox, type FetchSandboxOptions, listSandboxes } from "./fetch_sandbox.ts";
import { killContainer, type KillOptions } from "./kill.ts";
import { type MonitorOptions, monitorSandbox, type SandboxEvent } from "./monitor.ts";
import { type NetworkRescanReport, rescanNetwork } from "./network.ts";
import { pauseContainer, pauseSandbox, resumeContainer, resumeSandbox } from "./pause.ts";
import { eventsOf } from "./events.ts";
import { ownedHere } from "./owner.ts";
import type { ContainerRecord, ExecRecord, SandboxRecord } from "./records.ts";
import type { SandboxRuntime } from "./runtime.ts";
import { startContainer } from "./start_container.ts";
import type { SandboxStatus } from "./status.ts";
import { type ProcessIo, processIo } from "./stdio.ts";
import { type ExitInfo, waitContainer, waitExec } from "./wait.ts";
import { guestResources } from "./_guest_spec.ts";

/**
 * Drops this process's control connection to a VM and leaves it running. The Vm contract has no
 * such method yet (QEMU's QMP socket takes one client at a time, so another process can attach
 * only after this): a plugin's own `detach()` is used when it has one, else the QEMU plugin's
 * documented `qmp` client is closed.
 */
function detachVm(vm: Vm): void {
  if ("detach" in vm && typeof vm.detach === "function") {
    vm.detach();
    return;
  }
  if (
    "qmp" in vm && typeof vm.qmp === "object" && vm.qmp !== null && "close" in vm.qmp &&
    typeof vm.qmp.close === "function"
  ) {
    vm.qmp.close();
  }
}

export class Sandbox implements AsyncDisposable {
  readonly #ctx: SandboxContext;

  private constructor(ctx: SandboxContext) {
    this.#ctx = ctx;
  }

  /** Creates and starts a sandbox (VM booted, agent ready). Rolls back on failure. */
  static async create(rt: SandboxRuntime, opts: CreateSandboxOptions): Promise<Sandbox> {
    return new Sandbox(await createSandbox(rt, opts));
  }

  /** A handle on an existing sandbox, also from another process (re-attaches VM and agent). */
  static async fetch(rt: SandboxRuntime, id: string, opts: FetchSandboxOptions = {}): Promise<Sandbox> {
    return new Sandbox(await fetchSandbox(rt, id, opts));
  }

  /** Ids of every sandbox in the store. */
  static list(rt: SandboxRuntime): Promise<string[]> {
    return listSandboxes(rt);
  }

  get id(): SandboxId {
    return this.#ctx.record.id;
  }

  /** The persisted record as this handle last saw it. */
  get record(): SandboxRecord {
    return this.#ctx.record;
  }

  status(): SandboxStatus {
    return this.#ctx.record.status;
  }

  /** Host pids of the VM (QEMU), empty when it is not running. */
  pids(): readonly number[] {
    return this.#ctx.vm?.pids() ?? (this.#ctx.record.vm ? [this.#ctx.record.vm.pid] : []);
  }

  /** Events: process exits (persisted as they happen), OOM kills, VM exit. Ends with the VM or `signal`. */
  monitor(opts: MonitorOptions = {}): AsyncGenerator<SandboxEvent> {
    return monitorSandbox(this.#ctx, opts);
  }

  /** Resolves when the VM exits (from any cause). */
  waitVm(): Promise<VmExit> {
    return eventsOf(this.#ctx).vmExit();
  }

  // Containers -----------------------------------------------------------------------------------

  createContainer(opts: CreateContainerOptions): Promise<ContainerRecord> {
    return createContainer(this.#ctx, opts);
  }

  startContainer(id: string, opts: { signal?: AbortSignal } = {}): Promise<ContainerRecord> {
    return startContainer(this.#ctx, id, opts);
  }

  /** The container's record (status, storages, execs). @throws NotFound */
  container(id: string): Promise<ContainerRecord> {
    return loadContainer(this.#ctx, containerId(id));
  }

  containers(): Promise<ContainerRecord[]> {
    return this.#ctx.rt.repo.listContainers(this.id);
  }

  kill(id: string, signal: string | number, opts: KillOptions = {}): Promise<void> {
    return killContainer(this.#ctx, id, signal, opts);
  }

  /** Waits for the container's init to exit; the status is the exit code or 128 + signal. */
  wait(id: string, opts: { signal?: AbortSignal } = {}): Promise<ExitInfo> {
    return waitContainer(this.#ctx, id, opts);
  }

  exec(id: string, opts: ExecOptions): Promise<ExecRecord> {
    return execProcess(this.#ctx, id, opts);
  }

  waitExec(id: string, exec: string, opts: { signal?: AbortSignal } = {}): Promise<ExitInfo> {
    return waitExec(this.#ctx, id, exec, opts);
  }

  /** Stdio streams of the container's init, or of an exec'd process with `exec`. */
  io(id: string, opts: { exec?: string; signal?: AbortSignal } = {}): ProcessIo {
    return processIo(this.#ctx, id, opts);
  }

  pauseContainer(id: string): Promise<ContainerRecord> {
    return pauseContainer(this.#ctx, id);
  }

  resumeContainer(id: string): Promise<ContainerRecord> {
    return resumeContainer(this.#ctx, id);
  }

  deleteContainer(id: string, opts: DeleteContainerOptions = {}): Promise<void> {
    return deleteContainer(this.#ctx, id, opts);
  }

  /** Guest processes of a container: `{ pid, execId }` ("" for the init). */
  processes(id: string): Promise<{ pid: number; execId: string }[]> {
    return requireAgent(this.#ctx, "list processes").listProcesses(containerId(id));
  }

  stats(id: string): Promise<ContainerStats> {
    return requireAgent(this.#ctx, "read stats").statsContainer(containerId(id));
  }

  /** Applies OCI `linux.resources` to a container. */
  update(id: ContainerId | string, resources: Readonly<Record<string, unknown>>): Promise<void> {
    return requireAgent(this.#ctx, "update").updateContainer(containerId(id), guestResources(resources));
  }

  // The VM ---------------------------------------------------------------------------------------

  pause(): Promise<void> {
    return pauseSandbox(this.#ctx);
  }

  resume(): Promise<void> {
    return resumeSandbox(this.#ctx);
  }

  addDevice(device: Device): Promise<AttachedDevice> {
    return requireVm(this.#ctx, "add a device to").addDevice(device);
  }

  removeDevice(device: AttachedDevice): Promise<void> {
    return requireVm(this.#ctx, "remove a device from").removeDevice(device);
  }

  /**
   * Hot-plugs interfaces added to the sandbox's netns since start (Docker 26+ adds the veth after
   * task creation) and unplugs those gone: network plugin rescan, VM device hotplug, guest setup.
   */
  rescanNetwork(opts: { signal?: AbortSignal } = {}): Promise<NetworkRescanReport> {
    return rescanNetwork(this.#ctx, opts);
  }

  listInterfaces(): Promise<GuestInterface[]> {
    return requireAgent(this.#ctx, "list interfaces").listInterfaces();
  }

  updateInterface(i: GuestInterface): Promise<GuestInterface> {
    return requireAgent(this.#ctx, "update an interface").updateInterface(i);
  }

  listRoutes(): Promise<GuestRoute[]> {
    return requireAgent(this.#ctx, "list routes").listRoutes();
  }

  updateRoutes(routes: readonly GuestRoute[]): Promise<GuestRoute[]> {
    return requireAgent(this.#ctx, "update routes").updateRoutes(routes);
  }

  /** Stops the VM, keeping the records (containers become stopped). */
  stop(opts: { force?: boolean; timeoutMs?: number } = {}): Promise<void> {
    return stopSandbox(this.#ctx, opts);
  }

  /** Removes everything: containers, VM, network, shares, directory, records. */
  delete(opts: DeleteSandboxOptions = {}): Promise<void> {
    return deleteSandbox(this.#ctx, opts);
  }

  /**
   * Drops this process's connections and leaves the VM running (fetch it again later). The record
   * no longer names this process as the owner once it resolves.
   */
  async release(): Promise<void> {
    const ctx = this.#ctx;
    if (ctx.released) return;
    if (ownedHere(ctx.record.owner)) {
      try {
        const stored = await ctx.rt.repo.loadSandbox(ctx.record.id);
        if (ownedHere(stored.owner)) await saveSandbox(ctx, { ...stored, owner: null });
      } catch (e) {
        ctx.log.warn("cannot clear the owner of a released sandbox", { error: e });
      }
    }
    ctx.agent?.close();
    ctx.agent = undefined;
    if (ctx.vm !== undefined) detachVm(ctx.vm);
    ctx.vm = undefined;
    ctx.released = true;
  }

  /** `await using sb = ...`: releases (never deletes) the sandbox. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.release();
  }
}
