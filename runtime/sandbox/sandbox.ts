/**
 * `Sandbox`: the handle every front door holds (OCI CLI holder, shim daemon, sandboxer, mod.ts,
 * HTTP API). Every change goes through `act` (actions.ts: one operation file per action); records,
 * waits, streams and events are read from the handle directly.
 *
 * ```ts
 * const rt = await openSandboxRuntime(await loadConfig());
 * const sb = await Sandbox.create(rt, { id: "sb1" });
 * const spec = parseOciSpec(minimalSpec(["echo", "hi"]), "inline");
 * await sb.act({ kind: "create-container", opts: { id: "c1", spec, rootfs: "/tmp/rootfs" } });
 * const out = new Response(sb.io("c1").stdout).text();
 * await sb.act({ kind: "start-container", containerId: "c1" });
 * const { exitStatus } = await sb.wait("c1");
 * await sb.act({ kind: "delete" });
 * ```
 *
 * @module
 */
import type { Vm, VmExit } from "../../plugins/types.ts";
import type { SandboxId } from "../ids.ts";
import { containerId } from "../ids.ts";
import { loadContainer, type SandboxContext, saveSandbox } from "./_context.ts";
import { type ActionKind, type ActionOf, type ActionResults, runAction } from "./actions.ts";
import { createSandbox, type CreateSandboxOptions } from "./create_sandbox.ts";
import { fetchSandbox, type FetchSandboxOptions } from "./fetch_sandbox.ts";
import { eventsOf, type ExitInfo, type MonitorOptions, type SandboxEvent } from "./events.ts";
import { ownedHere } from "./owner.ts";
import type { ContainerRecord, SandboxRecord } from "./records.ts";
import type { SandboxRuntime } from "./runtime.ts";
import type { SandboxStatus } from "./status.ts";
import { type ProcessIo, processIo } from "./stdio.ts";

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
    return rt.repo.listSandboxes();
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
    return eventsOf(this.#ctx).monitor(opts);
  }

  /** Resolves when the VM exits (from any cause). */
  waitVm(): Promise<VmExit> {
    return eventsOf(this.#ctx).vmExit();
  }

  /**
   * Runs one action (actions.ts): transitions one at a time in this sandbox's queue, queries and
   * signals at once. Every change to a sandbox goes through here.
   */
  act<K extends ActionKind>(a: ActionOf<K>): Promise<ActionResults[K]> {
    return runAction(this.#ctx, a);
  }

  // Containers: records, waits and streams (views, not actions) -------------------------------

  /** The container's record (status, storages, execs). @throws NotFound */
  container(id: string): Promise<ContainerRecord> {
    return loadContainer(this.#ctx, containerId(id));
  }

  containers(): Promise<ContainerRecord[]> {
    return this.#ctx.rt.repo.listContainers(this.id);
  }

  /** Waits for the container's init to exit; the status is the exit code or 128 + signal. */
  wait(id: string, opts: { signal?: AbortSignal } = {}): Promise<ExitInfo> {
    return eventsOf(this.#ctx).exit(id, undefined, opts.signal);
  }

  waitExec(id: string, exec: string, opts: { signal?: AbortSignal } = {}): Promise<ExitInfo> {
    return eventsOf(this.#ctx).exit(id, exec, opts.signal);
  }

  /** Stdio streams of the container's init, or of an exec'd process with `exec`. */
  io(id: string, opts: { exec?: string; signal?: AbortSignal } = {}): ProcessIo {
    return processIo(this.#ctx, id, opts);
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
