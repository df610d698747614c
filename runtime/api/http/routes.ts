/**
 * The API's actions on a sandbox as one union, and where each goes: a route per kind of owner
 * (the record's `owner`, local_backend.ts), each handling every action in one place. The verbs of
 * the backend only name the action; which process acts is the route's business:
 *
 * - holder: its control socket (holder_route.ts);
 * - in-process: the core handle in this process (the daemon's own API), deletes left to it;
 * - daemon: the HTTP layer passes the request to its API socket (relay_http.ts); only its guest
 *   stats are read here, every other action is refused as a program's is;
 * - none: the library attaches the sandbox for the action and releases it after;
 * - a program, or a stopped VM: refused with 409 naming the owner (a stopped sandbox can still
 *   be deleted).
 *
 * @module
 */
import type { Logger } from "../../log/logger.ts";
import type { ContainerRecord, SandboxRecord } from "../../sandbox/records.ts";
import type { SandboxRuntime } from "../../sandbox/runtime.ts";
import type { Sandbox as CoreSandbox } from "../../sandbox/sandbox.ts";
import type { Sandbox as LibrarySandbox } from "../library/mod.ts";
import { attachedExec, inProcessExec, type Serial } from "./exec_stream.ts";
import { daemonGuestStats } from "./relay_http.ts";
import {
  holderDelete,
  holderExec,
  holderPause,
  holderResume,
  holderStats,
  notHolderContainer,
  removeOciLeftovers,
} from "./holder_route.ts";
import { describeOwner, OwnerConflictError } from "./http_errors.ts";
import type { ContainerStats } from "../../agent_client/types.ts";
import type { ExecEvent, ExecRequest, GuestStatsView, SandboxOwner } from "./types.ts";

/** What the API does to a sandbox. */
export type SandboxAction =
  | { readonly kind: "pause" }
  | { readonly kind: "resume" }
  | { readonly kind: "delete"; readonly force: boolean }
  | { readonly kind: "delete-container"; readonly containerId: string; readonly force: boolean }
  | {
    readonly kind: "exec";
    readonly containerId: string;
    readonly req: ExecRequest;
    readonly signal?: AbortSignal;
  }
  | {
    readonly kind: "guest-stats";
    readonly record: SandboxRecord;
    /** Its running and paused containers. */
    readonly running: readonly ContainerRecord[];
    readonly signal?: AbortSignal;
  };

/** What each action answers. */
export interface ActionResults {
  readonly pause: void;
  readonly resume: void;
  readonly delete: void;
  readonly "delete-container": void;
  readonly exec: AsyncIterable<ExecEvent>;
  readonly "guest-stats": GuestStatsView[] | null;
}

type Kind = SandboxAction["kind"];
type ActionOf<K extends Kind> = Extract<SandboxAction, { kind: K }>;

/** Every action for one kind of owner (a missing one does not compile). */
export type Route = { readonly [K in Kind]: (id: string, a: ActionOf<K>) => Promise<ActionResults[K]> };

/** Runs `a` on `route`. */
export function run<K extends Kind>(route: Route, id: string, a: ActionOf<K>): Promise<ActionResults[K]> {
  const handler: (id: string, a: ActionOf<K>) => Promise<ActionResults[K]> = route[a.kind];
  return handler(id, a);
}

/** What the routes need from the backend. */
export interface RouteContext {
  readonly rt: SandboxRuntime;
  readonly log: Logger;
  readonly attach: (id: string) => Promise<LibrarySandbox>;
  /** One attached action per sandbox at a time. */
  readonly serial: Serial;
  /** The daemon's handle of a sandbox it holds, with its own pause, resume and delete rules. */
  readonly inProcess?: (id: string) => CoreSandbox | undefined;
  readonly refuseDelete?: (id: string) => string | undefined;
  readonly deleteInProcess?: (id: string, force: boolean) => Promise<void>;
  readonly pause?: (id: string) => Promise<void>;
  readonly resume?: (id: string) => Promise<void>;
}

/** Guest stats of a container from the agent's figures. Pure. */
export function guestStatsOf(containerId: string, s: ContainerStats): GuestStatsView {
  return {
    containerId,
    cpuSeconds: s.cpu ? Number(s.cpu.usageNs) / 1e9 : null,
    memoryBytes: s.memory ? Number(s.memory.usageBytes) : null,
    memoryLimitBytes: s.memory ? Number(s.memory.limitBytes) : null,
    pids: s.pids ? Number(s.pids.current) : null,
  };
}

/** The 409 for an action that `o` keeps to itself. */
function refusal(o: SandboxOwner, op: string, id: string): OwnerConflictError {
  const how = o.kind === "process" && o.role !== "program"
    ? `: use the front door that owns it (cocoon ${o.role})`
    : o.kind === "process"
    ? ": release it there first"
    : o.kind === "in-process"
    ? ": the front door that made it removes it"
    : "";
  return new OwnerConflictError(o, `Cannot ${op} sandbox "${id}": it is held by ${describeOwner(o)}${how}`);
}

/** An OCI container's holder: its control socket. */
function holderRoute(c: RouteContext, o: Extract<SandboxOwner, { kind: "holder" }>): Route {
  return {
    pause: async () => void await holderPause(o.socket),
    resume: async () => void await holderResume(o.socket),
    delete: (id, a) => holderDelete(c.rt, id, a.force, c.log),
    "delete-container": (id, a) => holderDelete(c.rt, id, a.force, c.log),
    exec: (id, a) => {
      if (a.containerId !== id) throw notHolderContainer(id, a.containerId);
      return holderExec(o.socket, a.containerId, a.req, a.signal ? { signal: a.signal } : {});
    },
    "guest-stats": (id, a) =>
      Promise.all(a.running.filter((x) => x.id === id).map((x) => holderStats(o.socket, x.id))),
  };
}

/** A sandbox this process holds (the API embedded in the daemon). */
function inProcessRoute(c: RouteContext, o: Extract<SandboxOwner, { kind: "in-process" }>): Route {
  const local = (id: string): CoreSandbox => {
    const sb = c.inProcess?.(id);
    if (sb === undefined) throw refusal(o, "reach", id);
    return sb;
  };
  return {
    pause: (id) => (c.pause ?? ((x: string) => local(x).act({ kind: "pause" })))(id),
    resume: (id) => (c.resume ?? ((x: string) => local(x).act({ kind: "resume" })))(id),
    delete: async (id, a) => {
      const no = c.refuseDelete?.(id);
      if (no !== undefined) throw new OwnerConflictError(o, no);
      if (c.deleteInProcess === undefined) throw refusal(o, "delete", id);
      await c.deleteInProcess(id, a.force);
    },
    "delete-container": async (id, a) => {
      const no = c.refuseDelete?.(id);
      if (no !== undefined) throw new OwnerConflictError(o, no);
      await local(id).act({ kind: "delete-container", containerId: a.containerId, opts: { force: a.force } });
    },
    exec: (id, a) => inProcessExec(local(id), a.containerId, a.req),
    "guest-stats": async (id, a) => {
      if (a.record.status.kind !== "ready") return null;
      const sb = local(id);
      return await Promise.all(
        a.running.map(async (x) => guestStatsOf(x.id, await sb.act({ kind: "stats", containerId: x.id }))),
      );
    },
  };
}

/** Nobody holds it: attached for each action, released after (one at a time per sandbox). */
function attachRoute(c: RouteContext): Route {
  const withAttached = <T>(id: string, fn: (sb: LibrarySandbox) => Promise<T>): Promise<T> =>
    c.serial(id, async () => {
      const sb = await c.attach(id);
      try {
        return await fn(sb);
      } finally {
        await sb.release();
      }
    });
  return {
    pause: (id) => withAttached(id, (sb) => sb.pause()),
    resume: (id) => withAttached(id, (sb) => sb.resume()),
    delete: (id, a) => attachedDelete(c, id, a.force),
    "delete-container": (id, a) =>
      withAttached(id, (sb) => sb.deleteContainer(a.containerId, { force: a.force })),
    exec: (id, a) => attachedExec(id, a.containerId, a.req, c.serial, c.attach),
    "guest-stats": async (id, a) => {
      if (a.record.status.kind !== "ready") return null;
      a.signal?.throwIfAborted();
      return await withAttached(id, async (sb) => {
        const out: GuestStatsView[] = [];
        for (const x of a.running) out.push(guestStatsOf(x.id, await sb.statsContainer(x.id)));
        return out;
      });
    },
  };
}

/** Deletes a sandbox nobody holds (its VM may be gone), then what an OCI holder left. */
async function attachedDelete(c: RouteContext, id: string, force: boolean): Promise<void> {
  await c.serial(id, async () => {
    const sb = await c.attach(id);
    try {
      await sb.delete({ force });
    } catch (e) {
      await sb.release();
      throw e;
    }
  });
  await removeOciLeftovers(c.rt, id);
}

/** A program holds it, or its VM does not run: every action refused, but a stopped one is deleted. */
function refuseRoute(c: RouteContext, o: SandboxOwner): Route {
  return {
    pause: (id) => Promise.reject(refusal(o, "pause", id)),
    resume: (id) => Promise.reject(refusal(o, "resume", id)),
    delete: (id, a) =>
      o.kind === "stopped" ? attachedDelete(c, id, a.force) : Promise.reject(refusal(o, "delete", id)),
    "delete-container": (id) => Promise.reject(refusal(o, "delete a container of", id)),
    exec: (id) => Promise.reject(refusal(o, "exec in", id)),
    "guest-stats": () => Promise.resolve(null),
  };
}

/** The route of a sandbox whose owner is `o`. */
export function routeFor(c: RouteContext, o: SandboxOwner): Route {
  switch (o.kind) {
    case "holder":
      return holderRoute(c, o);
    case "in-process":
      return inProcessRoute(c, o);
    case "process": {
      const api = o.api;
      if (api === undefined) return refuseRoute(c, o);
      return { ...refuseRoute(c, o), "guest-stats": (id, a) => daemonGuestStats(api, id, a.signal) };
    }
    case "none":
      return attachRoute(c);
    case "stopped":
      return refuseRoute(c, o);
  }
}
