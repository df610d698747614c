/**
 * The API's backend on this host: views from the sandbox records and /proc, and each action routed
 * to the owner that the sandbox's record names (runtime/sandbox/owner.ts): a holder through its
 * control socket, the daemon through its API socket (the HTTP layer relays: relay_http.ts), an ownerless sandbox (none
 * recorded, or the recorded one died) through the library's fetchSandbox (attached for the action,
 * released after; one action per sandbox at a time), a program that holds it refused with
 * `FailedPrecondition` (409) naming it.
 *
 * @module
 */
import { sandboxId } from "../../ids.ts";
import type { Logger } from "../../log/logger.ts";
import type { ContainerRecord, SandboxRecord } from "../../sandbox/records.ts";
import type { SandboxRuntime } from "../../sandbox/runtime.ts";
import type { Sandbox as CoreSandbox } from "../../sandbox/sandbox.ts";
import { fetchSandboxWith, type Sandbox as LibrarySandbox } from "../library/mod.ts";
import { notHolderContainer } from "./holder_route.ts";
import { liveOwner } from "../../sandbox/owner.ts";
import { vmmUsage } from "./proc_usage.ts";
import { type Route, type RouteContext, routeFor, run } from "./routes.ts";
import type { ApiBackend, ContainerView, SandboxOwner, SandboxView } from "./types.ts";

export interface LocalBackendOptions {
  readonly runtime: SandboxRuntime;
  /**
   * More stores to serve (a daemon's pods and Controllers with their own configuration files):
   * their sandboxes are listed and acted on too, each with its own runtime. Stores with the same
   * state directory count once.
   */
  readonly stores?: () => readonly SandboxRuntime[];
  readonly log: Logger;
  /** Attaches to an ownerless sandbox of store `rt` (default: the library's fetchSandbox with its config). */
  readonly attach?: (id: string, rt: SandboxRuntime) => Promise<LibrarySandbox>;
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
  readonly refuseDelete?: (id: string) => string | undefined;
  /** Deletes an in-process sandbox that `refuseDelete` lets go (default: refused). */
  readonly deleteInProcess?: (id: string, force: boolean) => Promise<void>;
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

/** The backend for sandboxes of `runtime`'s store (and of `stores`). */
export function localBackend(opts: LocalBackendOptions): ApiBackend {
  const primary = opts.runtime;
  /** Every store, once per state directory; the primary first. */
  const stores = (): SandboxRuntime[] => {
    const seen = new Set<string>();
    return [primary, ...(opts.stores?.() ?? [])].filter((s) => {
      const dir = s.config.runtime.stateDir;
      if (seen.has(dir)) return false;
      seen.add(dir);
      return true;
    });
  };
  /** The store that holds sandbox `id` (the primary, whose NotFound answers, when none does). */
  const storeOf = async (id: string): Promise<SandboxRuntime> => {
    const has = (s: SandboxRuntime) => s.repo.loadSandbox(sandboxId(id)).then(() => true, () => false);
    const [first, ...more] = stores();
    if (first === undefined || await has(first)) return primary;
    for (const s of more) if (await has(s)) return s;
    return primary;
  };
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

  const record = async (id: string): Promise<SandboxRecord> =>
    await (await storeOf(id)).repo.loadSandbox(sandboxId(id));

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
      containers: (await (await storeOf(r.id)).repo.listContainers(r.id)).map(containerView),
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
  const contexts = new Map<SandboxRuntime, RouteContext>();
  /** The routes' context for the store of `rt` (attaching with its configuration). */
  const ctxOf = (rt: SandboxRuntime): RouteContext => {
    let c = contexts.get(rt);
    if (c === undefined) {
      c = contextFor(rt);
      contexts.set(rt, c);
    }
    return c;
  };
  const contextFor = (rt: SandboxRuntime): RouteContext => ({
    rt,
    log: opts.log,
    attach: (id: string) =>
      opts.attach !== undefined
        ? opts.attach(id, rt)
        : fetchSandboxWith(id, { config: rt.config, log: opts.log }, {}),
    serial,
    ...(opts.inProcess !== undefined ? { inProcess: opts.inProcess } : {}),
    ...(opts.refuseDelete !== undefined ? { refuseDelete: opts.refuseDelete } : {}),
    ...(opts.deleteInProcess !== undefined ? { deleteInProcess: opts.deleteInProcess } : {}),
    ...(opts.pause !== undefined ? { pause: opts.pause } : {}),
    ...(opts.resume !== undefined ? { resume: opts.resume } : {}),
  });
  /** The route to the sandbox's owner, as its record says now. */
  const route = async (id: string): Promise<Route> =>
    routeFor(ctxOf(await storeOf(id)), await ownerOf(await record(id)));

  const containerOf = async (id: string, cid: string): Promise<ContainerRecord> => {
    const c = (await (await storeOf(id)).repo.listContainers(sandboxId(id))).find((x) => x.id === cid);
    if (c === undefined) throw notHolderContainer(id, cid);
    return c;
  };

  return {
    async list() {
      const out: SandboxView[] = [];
      const ids = new Set<string>();
      for (const s of stores()) for (const id of await s.repo.listSandboxes()) ids.add(id);
      for (const id of ids) {
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
      await run(await route(id), id, { kind: "pause" });
    },
    async resume(id) {
      await run(await route(id), id, { kind: "resume" });
    },
    async delete(id, { force }) {
      await run(await route(id), id, { kind: "delete", force });
    },
    async containers(id) {
      await record(id);
      return (await (await storeOf(id)).repo.listContainers(sandboxId(id))).map(containerView);
    },
    async container(id, cid) {
      return containerView(await containerOf(id, cid));
    },
    async deleteContainer(id, cid, { force }) {
      await containerOf(id, cid);
      await run(await route(id), id, { kind: "delete-container", containerId: cid, force });
    },
    async exec(id, cid, req, eopts = {}) {
      await containerOf(id, cid);
      return await run(await route(id), id, {
        kind: "exec",
        containerId: cid,
        req,
        ...(eopts.signal ? { signal: eopts.signal } : {}),
      });
    },
    async guestStats(id, gopts = {}) {
      const rt = await storeOf(id);
      const r = await rt.repo.loadSandbox(sandboxId(id));
      const running = (await rt.repo.listContainers(r.id)).filter((c) =>
        c.status.kind === "running" || c.status.kind === "paused"
      );
      return await run(routeFor(ctxOf(rt), await ownerOf(r)), id, {
        kind: "guest-stats",
        record: r,
        running,
        ...(gopts.signal ? { signal: gopts.signal } : {}),
      });
    },
    async ownerApi(id) {
      const o = await record(id).then(ownerOf, () => undefined);
      return o?.kind === "process" ? o.api : undefined;
    },
  };
}

/** A process's command line for the API's owner field (160 characters at most). */
async function commandOf(pid: number): Promise<string> {
  const raw = await Deno.readTextFile(`/proc/${pid}/cmdline`).catch(() => "");
  return raw.split("\0").filter((a) => a !== "").join(" ").slice(0, 160);
}
