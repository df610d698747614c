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
import { loadContainer, type SandboxContext, saveSandbox } from "./_context.ts";
import { type ActionKind, type ActionOf, type ActionResults, runAction } from "./actions.ts";
import type { CreateContainerOptions } from "./create_container.ts";
import { createSandbox, type CreateSandboxOptions } from "./create_sandbox.ts";
import type { DeleteContainerOptions } from "./delete.ts";
import type { DeleteSandboxOptions } from "./delete_sandbox.ts";
import type { ExecOptions } from "./exec.ts";
import { fetchSandbox, type FetchSandboxOptions, listSandboxes } from "./fetch_sandbox.ts";
import type { KillOptions } from "./kill.ts";
import { type MonitorOptions, monitorSandbox, type SandboxEvent } from "./monitor.ts";
import type { NetworkRescanReport } from "./network.ts";
import { eventsOf } from "./events.ts";
import { ownedHere } from "./owner.ts";
import type { ContainerRecord, ExecRecord, SandboxRecord } from "./records.ts";
import type { SandboxRuntime } from "./runtime.ts";
import type { SandboxStatus } from "./status.ts";
import { type ProcessIo, processIo } from "./stdio.ts";
import { type ExitInfo, waitContainer, waitExec } from "./wait.ts";

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

  /**
   * Runs one action (actions.ts): transitions one at a time in this sandbox's queue, queries and
   * signals at once. The methods below are the same actions by name.
   */
  act<K extends ActionKind>(a: ActionOf<K>): Promise<ActionResults[K]> {
    return runAction(this.#ctx, a);
  }

  // Containers -----------------------------------------------------------------------------------

  createContainer(opts: CreateContainerOptions): Promise<ContainerRecord> {
    return this.act({ kind: "create-container", opts });
  }

  startContainer(id: string, opts: { signal?: AbortSignal } = {}): Promise<ContainerRecord> {
    return this.act({ kind: "start-container", containerId: id, ...opts });
  }

  /** The container's record (status, storages, execs). @throws NotFound */
  container(id: string): Promise<ContainerRecord> {
    return loadContainer(this.#ctx, containerId(id));
  }

  containers(): Promise<ContainerRecord[]> {
    return this.#ctx.rt.repo.listContainers(this.id);
  }

  kill(id: string, signal: string | number, opts: KillOptions = {}): Promise<void> {
    return this.act({ kind: "kill", containerId: id, signal, opts });
  }

  /** Waits for the container's init to exit; the status is the exit code or 128 + signal. */
  wait(id: string, opts: { signal?: AbortSignal } = {}): Promise<ExitInfo> {
    return waitContainer(this.#ctx, id, opts);
  }

  exec(id: string, opts: ExecOptions): Promise<ExecRecord> {
    return this.act({ kind: "exec", containerId: id, opts });
  }

  waitExec(id: string, exec: string, opts: { signal?: AbortSignal } = {}): Promise<ExitInfo> {
    return waitExec(this.#ctx, id, exec, opts);
  }

  /** Stdio streams of the container's init, or of an exec'd process with `exec`. */
  io(id: string, opts: { exec?: string; signal?: AbortSignal } = {}): ProcessIo {
    return processIo(this.#ctx, id, opts);
  }

  pauseContainer(id: string): Promise<ContainerRecord> {
    return this.act({ kind: "pause-container", containerId: id });
  }

  resumeContainer(id: string): Promise<ContainerRecord> {
    return this.act({ kind: "resume-container", containerId: id });
  }

  deleteContainer(id: string, opts: DeleteContainerOptions = {}): Promise<void> {
    return this.act({ kind: "delete-container", containerId: id, opts });
  }

  /** Guest processes of a container: `{ pid, execId }` ("" for the init). */
  processes(id: string): Promise<{ pid: number; execId: string }[]> {
    return this.act({ kind: "processes", containerId: id });
  }

  stats(id: string): Promise<ContainerStats> {
    return this.act({ kind: "stats", containerId: id });
  }

  /** Applies OCI `linux.resources` to a container. */
  update(id: ContainerId | string, resources: Readonly<Record<string, unknown>>): Promise<void> {
    return this.act({ kind: "update-container", containerId: id, resources });
  }

  // The VM ---------------------------------------------------------------------------------------

  pause(): Promise<void> {
    return this.act({ kind: "pause" });
  }

  resume(): Promise<void> {
    return this.act({ kind: "resume" });
  }

  addDevice(device: Device): Promise<AttachedDevice> {
    return this.act({ kind: "add-device", device });
  }

  removeDevice(device: AttachedDevice): Promise<void> {
    return this.act({ kind: "remove-device", device });
  }

  /**
   * Hot-plugs interfaces added to the sandbox's netns since start (Docker 26+ adds the veth after
   * task creation) and unplugs those gone: network plugin rescan, VM device hotplug, guest setup.
   */
  rescanNetwork(opts: { signal?: AbortSignal } = {}): Promise<NetworkRescanReport> {
    return this.act({ kind: "rescan-network", ...opts });
  }

  listInterfaces(): Promise<GuestInterface[]> {
    return this.act({ kind: "list-interfaces" });
  }

  updateInterface(i: GuestInterface): Promise<GuestInterface> {
    return this.act({ kind: "update-interface", iface: i });
  }

  listRoutes(): Promise<GuestRoute[]> {
    return this.act({ kind: "list-routes" });
  }

  updateRoutes(routes: readonly GuestRoute[]): Promise<GuestRoute[]> {
    return this.act({ kind: "update-routes", routes });
  }

  /** Stops the VM, keeping the records (containers become stopped). */
  stop(opts: { force?: boolean; timeoutMs?: number } = {}): Promise<void> {
    return this.act({ kind: "stop", ...opts });
  }

  /** Removes everything: containers, VM, network, shares, directory, records. */
  delete(opts: DeleteSandboxOptions = {}): Promise<void> {
    return this.act({ kind: "delete", opts });
  }

  /**
   * Drops this process's connections and leaves the VM running (fetch it again later). The record
   * no longer names this process as the owner once it resolves, unless `keepOwner`: then it names
   * this process until it exits, and whoever takes over what it held (the next `cocoon daemon`)
   * finds the sandbox as its own.
   */
  async release(opts: { keepOwner?: boolean } = {}): Promise<void> {
    const ctx = this.#ctx;
    if (ctx.released) return;
    if (opts.keepOwner !== true && ownedHere(ctx.record.owner)) {
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
