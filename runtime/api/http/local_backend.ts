/**
 * The API's backend on this host: views from the sandbox records and /proc, and each action routed
 * to the owner that the sandbox's record names (runtime/sandbox/owner.ts): a holder through its
 * control socket, the daemon through its API socket (front_door.ts), an ownerless sandbox (none
 * recorded, or the recorded one died) through the library's fetchSandbox (attached for the action,
 * released after; one action per sandbox at a time), a program that holds it refused with
 * `FailedPrecondition` (409) naming it.
 *
 * @module
 */
import type { ContainerStats } from "../../agent_client/types.ts";
import { RuntimeError } from "../../errors.ts";
import { sandboxId } from "../../ids.ts";
import type { Logger } from "../../log/logger.ts";
import type { ContainerRecord, SandboxRecord } from "../../sandbox/records.ts";
import type { SandboxRuntime } from "../../sandbox/runtime.ts";
import type { Sandbox as CoreSandbox } from "../../sandbox/sandbox.ts";
import { fetchSandboxWith, type Sandbox as LibrarySandbox } from "../library/mod.ts";
import {
  holderDelete,
  holderExec,
  holderPause,
  holderResume,
  holderStats,
  notHolderContainer,
  removeOciLeftovers,
} from "./holder_route.ts";
import { attachedExec, inProcessExec } from "./exec_stream.ts";
import { describeOwner, OwnerConflictError } from "./http_errors.ts";
import { forwarder } from "./forward.ts";
import { liveOwner } from "../../sandbox/owner.ts";
import { vmmUsage } from "./proc_usage.ts";
import type { ApiBackend, ContainerView, GuestStatsView, SandboxOwner, SandboxView } from "./types.ts";

export interface LocalBackendOptions {
  readonly runtime: SandboxRuntime;
  readonly log: Logger;
  /** Attaches to an ownerless sandbox (default: the library's fetchSandbox with the runtime's config). */
  readonly attach?: (id: string) => Promise<LibrarySandbox>;
  /**
   * The pid whose hold on a VM is this backend's own (default this process): the backend attaches
   * a sandbox only inside its per-sandbox queue. A program that embeds the API must not hold
   * sandboxes in the same process for longer (release them), or they will look ownerless.
   */
  readonly selfPid?: number;
  /**
   * Sandboxes this process holds (an embedding front door such as `cocoon daemon`): their actions
   * are called on the handle directly; deleting them stays with that front door (409).
   */
  readonly inProcess?: (id: string) => CoreSandbox | undefined;
  /** The refusal message for deleting an in-process sandbox or one of its containers (default: a 409 naming this process). */
  readonly refuseDelete?: (id: string) => string;
  /** Pause and resume of an in-process sandbox (default: the core handle's, which pause the VM). */
  readonly pause?: (id: string) => Promise<void>;
  readonly resume?: (id: string) => Promise<void>;
}

/** A container record as the API shows it. Pure. */
function containerView(c: ContainerRecord): ContainerView {
  const execs: Record<string, ContainerRecord["execs"][string]["status"]> = {};
  for (const [k, e] of Object.entries(c.execs)) execs[k] = e.status;
  return {
    id: c.id,
    sandboxId: c.sandboxId,
    state: c.status,
    createdAt: c.createdAt,
    rootfs: c.rootfs,
    bundle: c.bundle,
    terminal: c.terminal,
    execs,
  };
}

/** Uptime and start latency (seconds) from a record's timestamps. Pure. */
function timesOf(r: SandboxRecord, nowMs: number): { uptime: number | null; start: number | null } {
  if (r.status.kind !== "ready" && r.status.kind !== "paused") return { uptime: null, start: null };
  const started = Date.parse(r.status.startedAt);
  const created = Date.parse(r.createdAt);
  return {
    uptime: Number.isFinite(started) ? Math.max(0, (nowMs - started) / 1000) : null,
    start: Number.isFinite(started) && Number.isFinite(created)
      ? Math.max(0, (started - created) / 1000)
      : null,
  };
}

/** Guest stats of a container from the agent's figures. Pure. */
function guestStatsOf(containerId: string, s: ContainerStats): GuestStatsView {
  return {
    containerId,
    cpuSeconds: s.cpu ? Number(s.cpu.usageNs) / 1e9 : null,
    memoryBytes: s.memory ? Number(s.memory.usageBytes) : null,
    memoryLimitBytes: s.memory ? Number(s.memory.limitBytes) : null,
    pids: s.pids ? Number(s.pids.current) : null,
  };
}

/** The backend for sandboxes of `runtime`'s store. */
export function localBackend(opts: LocalBackendOptions): ApiBackend {
  const rt = opts.runtime;
  const attach = opts.attach ??
    ((id: string) => fetchSandboxWith(id, { config: rt.config, log: opts.log }, {}));
  const locks = new Map<string, Promise<unknown>>();
  const self = { selfPid: opts.selfPid ?? Deno.pid };

  /** Runs `fn` after every earlier action on the same sandbox. */
  const serial = <T>(id: string, fn: () => Promise<T>): Promise<T> => {
    const prev = locks.get(id) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => {});
    locks.set(id, tail);
    void tail.then(() => locks.get(id) === tail && locks.delete(id));
    return next;
  };

  const record = async (id: string): Promise<SandboxRecord> => await rt.repo.loadSandbox(sandboxId(id));

  const view = async (r: SandboxRecord): Promise<SandboxView> => {
    const pids = r.vm !== null && r.status.kind !== "stopped" ? [r.vm.pid] : [];
    const t = timesOf(r, Date.now());
    return {
      id: r.id,
      state: r.status,
      createdAt: r.createdAt,
      uptimeSeconds: t.uptime,
      startSeconds: t.start,
      hypervisor: r.hypervisor,
      vcpus: r.vcpus,
      memoryMiB: r.memoryMiB,
      pids,
      owner: await ownerOf(r),
      vmm: await vmmUsage(pids),
      containers: (await rt.repo.listContainers(r.id)).map(containerView),
    };
  };

  /** The owner that the record names, while it lives; this process's own attach counts as none. */
  const ownerOf = async (r: SandboxRecord): Promise<SandboxOwner> => {
    if (r.vm === null || (r.status.kind !== "ready" && r.status.kind !== "paused")) {
      return { kind: "stopped" };
    }
    if (opts.inProcess?.(r.id) !== undefined) return { kind: "in-process", pid: self.selfPid };
    const o = await liveOwner(r.owner);
    if (o === null || o.pid === self.selfPid) return { kind: "none" };
    switch (o.kind) {
      case "holder":
        return { kind: "holder", pid: o.pid, socket: o.socket };
      case "daemon":
        return { kind: "process", pid: o.pid, role: "daemon", command: await commandOf(o.pid), api: o.api };
      case "program":
        return { kind: "process", pid: o.pid, role: "program", command: await commandOf(o.pid) };
    }
  };
  const owner = async (id: string): Promise<SandboxOwner> => await ownerOf(await record(id));
  /** The forwarder of a front door that serves an API, else undefined. */
  const door = (o: SandboxOwner) =>
    o.kind === "process" && o.api !== undefined ? forwarder(o, o.api) : undefined;
  /** The in-process handle of a sandbox whose owner is this process. */
  const local = (id: string): CoreSandbox => {
    const sb = opts.inProcess?.(id);
    if (sb === undefined) {
      throw new RuntimeError("Unavailable", `Cannot reach sandbox "${id}": its handle went away`);
    }
    return sb;
  };

  const refuse = (op: string, id: string, o: SandboxOwner): never => {
    const how = o.kind === "process" && o.role !== "program"
      ? `: use the front door that owns it (cocoon ${o.role})`
      : o.kind === "process"
      ? ": release it there first"
      : o.kind === "in-process"
      ? ": the front door that made it removes it"
      : "";
    throw new OwnerConflictError(o, `Cannot ${op} sandbox "${id}": it is held by ${describeOwner(o)}${how}`);
  };

  /** Attaches to an ownerless (or stopped) sandbox for `fn`, then releases it. */
  const withAttached = <T>(id: string, fn: (sb: LibrarySandbox) => Promise<T>): Promise<T> =>
    serial(id, async () => {
      const sb = await attach(id);
      try {
        return await fn(sb);
      } finally {
        await sb.release();
      }
    });

  const containerOf = async (id: string, cid: string): Promise<ContainerRecord> => {
    const c = (await rt.repo.listContainers(sandboxId(id))).find((x) => x.id === cid);
    if (c === undefined) throw notHolderContainer(id, cid);
    return c;
  };

  return {
    async list() {
      const out: SandboxView[] = [];
      for (const id of await rt.repo.listSandboxes()) {
        try {
          out.push(await view(await record(id)));
        } catch (e) {
          opts.log.limited.warn("sandbox record unreadable", { sandbox: id, error: e });
        }
      }
      return out;
    },
    async get(id) {
      return await view(await record(id));
    },
    async pause(id) {
      const o = await owner(id);
      const d = door(o);
      if (o.kind === "holder") await holderPause(o.socket);
      else if (o.kind === "in-process") await (opts.pause ?? ((x: string) => local(x).pause()))(id);
      else if (d !== undefined) await d.pause(id);
      else if (o.kind === "none") await withAttached(id, (sb) => sb.pause());
      else refuse("pause", id, o);
    },
    async resume(id) {
      const o = await owner(id);
      const d = door(o);
      if (o.kind === "holder") await holderResume(o.socket);
      else if (o.kind === "in-process") await (opts.resume ?? ((x: string) => local(x).resume()))(id);
      else if (d !== undefined) await d.resume(id);
      else if (o.kind === "none") await withAttached(id, (sb) => sb.resume());
      else refuse("resume", id, o);
    },
    async delete(id, { force }) {
      const o = await owner(id);
      const d = door(o);
      if (o.kind === "holder") await holderDelete(rt, id, force, opts.log);
      else if (o.kind === "in-process" && opts.refuseDelete !== undefined) {
        throw new OwnerConflictError(o, opts.refuseDelete(id));
      } else if (d !== undefined) await d.delete(id, force);
      else if (o.kind === "none" || o.kind === "stopped") {
        await serial(id, async () => {
          const sb = await attach(id);
          try {
            await sb.delete({ force });
          } catch (e) {
            await sb.release();
            throw e;
          }
        });
        await removeOciLeftovers(rt, id);
      } else refuse("delete", id, o);
    },
    async containers(id) {
      await record(id);
      return (await rt.repo.listContainers(sandboxId(id))).map(containerView);
    },
    async container(id, cid) {
      return containerView(await containerOf(id, cid));
    },
    async deleteContainer(id, cid, { force }) {
      await containerOf(id, cid);
      const o = await owner(id);
      const d = door(o);
      if (o.kind === "holder") await holderDelete(rt, id, force, opts.log);
      else if (o.kind === "in-process" && opts.refuseDelete !== undefined) {
        throw new OwnerConflictError(o, opts.refuseDelete(id));
      } else if (o.kind === "in-process") await local(id).deleteContainer(cid, { force });
      else if (d !== undefined) await d.deleteContainer(id, cid, force);
      else if (o.kind === "none") await withAttached(id, (sb) => sb.deleteContainer(cid, { force }));
      else refuse("delete a container of", id, o);
    },
    async exec(id, cid, req, eopts = {}) {
      await containerOf(id, cid);
      const o = await owner(id);
      if (o.kind === "holder") {
        if (cid !== id) throw notHolderContainer(id, cid);
        return await holderExec(o.socket, cid, req, eopts);
      }
      if (o.kind === "in-process") return await inProcessExec(local(id), cid, req);
      const d = door(o);
      if (d !== undefined) return await d.exec(id, cid, req, eopts);
      if (o.kind !== "none") return refuse("exec in", id, o);
      return await attachedExec(id, cid, req, serial, attach);
    },
    async guestStats(id, gopts = {}) {
      const r = await record(id);
      const o = await ownerOf(r);
      const d = door(o);
      if (d !== undefined) return await d.guestStats(id, gopts);
      const running = (await rt.repo.listContainers(r.id)).filter((c) =>
        c.status.kind === "running" || c.status.kind === "paused"
      );
      if (o.kind === "holder") {
        return await Promise.all(running.filter((c) => c.id === id).map((c) => holderStats(o.socket, c.id)));
      }
      if (o.kind === "in-process" && r.status.kind === "ready") {
        const sb = local(id);
        return await Promise.all(running.map(async (c) => guestStatsOf(c.id, await sb.stats(c.id))));
      }
      if (o.kind !== "none" || r.status.kind !== "ready") return null;
      gopts.signal?.throwIfAborted();
      return await withAttached(id, async (sb) => {
        const out: GuestStatsView[] = [];
        for (const c of running) out.push(guestStatsOf(c.id, await sb.statsContainer(c.id)));
        return out;
      });
    },
  };
}

/** A process's command line for the API's owner field (160 characters at most). */
async function commandOf(pid: number): Promise<string> {
  const raw = await Deno.readTextFile(`/proc/${pid}/cmdline`).catch(() => "");
  return raw.split("\0").filter((a) => a !== "").join(" ").slice(0, 160);
}
