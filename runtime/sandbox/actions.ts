/**
 * Every action on a sandbox as one discriminated union, run by one dispatcher (the model is
 * firecracker's `VmmAction`). Front doors (the Task API, the Sandbox API flavours, HTTP, the
 * holder, mod.ts) translate their protocol to a `SandboxAction` and map the core's errors once at
 * their edge; `Sandbox.act` runs it.
 *
 * Transitions (they change a record or the VM) run one at a time per sandbox, in arrival order,
 * through the handle's queue. Queries and signals run at once: a kill must reach a process while
 * a slow create or start is in flight (containerd kills to abort one), and reading stats must not
 * wait behind a boot. Waits and events are not actions: they are views of the event source
 * (events.ts).
 *
 * @module
 */
import type { ContainerStats, GuestInterface, GuestRoute } from "../agent_client/types.ts";
import { containerId } from "../ids.ts";
import { requireAgent, type SandboxContext, serialized } from "./_context.ts";
import { createContainer, type CreateContainerOptions } from "./create_container.ts";
import { deleteContainer, type DeleteContainerOptions } from "./delete.ts";
import { deleteSandbox, type DeleteSandboxOptions, stopSandbox } from "./delete_sandbox.ts";
import { type ExecOptions, execProcess } from "./exec.ts";
import { killContainer, type KillOptions } from "./kill.ts";
import { type NetworkRescanReport, rescanNetwork } from "./network.ts";
import { pauseContainer, pauseSandbox, resumeContainer, resumeSandbox } from "./pause.ts";
import type { ContainerRecord, ExecRecord, PluggedBlock } from "./records.ts";
import { type PlugBlock, plugBlock, type PlugNic, plugNic, unplugBlock, unplugNic } from "./hotplug.ts";
import { startContainer } from "./start_container.ts";
import { guestResources } from "./_guest_spec.ts";

type Sig = { readonly signal?: AbortSignal };

/** What can be done to a sandbox. */
export type SandboxAction =
  // Containers
  | { readonly kind: "create-container"; readonly opts: CreateContainerOptions }
  | { readonly kind: "start-container"; readonly containerId: string } & Sig
  | { readonly kind: "exec"; readonly containerId: string; readonly opts: ExecOptions }
  | {
    readonly kind: "kill";
    readonly containerId: string;
    readonly signal: string | number;
    readonly opts?: KillOptions;
  }
  | { readonly kind: "pause-container"; readonly containerId: string }
  | { readonly kind: "resume-container"; readonly containerId: string }
  | {
    readonly kind: "update-container";
    readonly containerId: string;
    readonly resources: Readonly<Record<string, unknown>>;
  }
  | {
    readonly kind: "delete-container";
    readonly containerId: string;
    readonly opts?: DeleteContainerOptions;
  }
  | { readonly kind: "stats"; readonly containerId: string }
  | { readonly kind: "processes"; readonly containerId: string }
  // The VM
  | { readonly kind: "pause" }
  | { readonly kind: "resume" }
  | { readonly kind: "plug-block"; readonly device: PlugBlock }
  | { readonly kind: "unplug-block"; readonly id: string }
  | { readonly kind: "plug-nic"; readonly nic: PlugNic }
  | { readonly kind: "unplug-nic"; readonly name: string }
  | { readonly kind: "rescan-network" } & Sig
  | { readonly kind: "list-interfaces" }
  | { readonly kind: "update-interface"; readonly iface: GuestInterface }
  | { readonly kind: "list-routes" }
  | { readonly kind: "update-routes"; readonly routes: readonly GuestRoute[] }
  | { readonly kind: "stop"; readonly force?: boolean; readonly timeoutMs?: number }
  | { readonly kind: "delete"; readonly opts?: DeleteSandboxOptions };

/** What each action answers. */
export interface ActionResults {
  readonly "create-container": ContainerRecord;
  readonly "start-container": ContainerRecord;
  readonly exec: ExecRecord;
  readonly kill: void;
  readonly "pause-container": ContainerRecord;
  readonly "resume-container": ContainerRecord;
  readonly "update-container": void;
  readonly "delete-container": void;
  readonly stats: ContainerStats;
  readonly processes: { pid: number; execId: string }[];
  readonly pause: void;
  readonly resume: void;
  readonly "plug-block": PluggedBlock;
  readonly "unplug-block": void;
  readonly "plug-nic": GuestInterface;
  readonly "unplug-nic": void;
  readonly "rescan-network": NetworkRescanReport;
  readonly "list-interfaces": GuestInterface[];
  readonly "update-interface": GuestInterface;
  readonly "list-routes": GuestRoute[];
  readonly "update-routes": GuestRoute[];
  readonly stop: void;
  readonly delete: void;
}

export type ActionKind = SandboxAction["kind"];
/** The action of kind `K` (the intersection lets a call infer `K` from an object literal). */
export type ActionOf<K extends ActionKind> = Extract<SandboxAction, { kind: K }> & { readonly kind: K };

/** Queries and signals, run at once; every other action is a transition, run in the queue. */
const AT_ONCE: ReadonlySet<ActionKind> = new Set<ActionKind>([
  "kill",
  "stats",
  "processes",
  "list-interfaces",
  "list-routes",
]);

type Handlers = {
  readonly [K in ActionKind]: (ctx: SandboxContext, a: ActionOf<K>) => Promise<ActionResults[K]>;
};

const sig = (a: Sig) => a.signal ? { signal: a.signal } : {};

/** One handler per action (a missing one does not compile). */
const HANDLERS: Handlers = {
  "create-container": (ctx, a) => createContainer(ctx, a.opts),
  "start-container": (ctx, a) => startContainer(ctx, a.containerId, sig(a)),
  exec: (ctx, a) => execProcess(ctx, a.containerId, a.opts),
  kill: (ctx, a) => killContainer(ctx, a.containerId, a.signal, a.opts ?? {}),
  "pause-container": (ctx, a) => pauseContainer(ctx, a.containerId),
  "resume-container": (ctx, a) => resumeContainer(ctx, a.containerId),
  "update-container": (ctx, a) =>
    requireAgent(ctx, "update").updateContainer(containerId(a.containerId), guestResources(a.resources)),
  "delete-container": (ctx, a) => deleteContainer(ctx, a.containerId, a.opts ?? {}),
  stats: (ctx, a) => requireAgent(ctx, "read stats").statsContainer(containerId(a.containerId)),
  processes: (ctx, a) => requireAgent(ctx, "list processes").listProcesses(containerId(a.containerId)),
  pause: (ctx) => pauseSandbox(ctx),
  resume: (ctx) => resumeSandbox(ctx),
  "plug-block": (ctx, a) => plugBlock(ctx, a.device),
  "unplug-block": (ctx, a) => unplugBlock(ctx, a.id),
  "plug-nic": (ctx, a) => plugNic(ctx, a.nic),
  "unplug-nic": (ctx, a) => unplugNic(ctx, a.name),
  "rescan-network": (ctx, a) => rescanNetwork(ctx, sig(a)),
  "list-interfaces": (ctx) => requireAgent(ctx, "list interfaces").listInterfaces(),
  "update-interface": (ctx, a) => requireAgent(ctx, "update an interface").updateInterface(a.iface),
  "list-routes": (ctx) => requireAgent(ctx, "list routes").listRoutes(),
  "update-routes": (ctx, a) => requireAgent(ctx, "update routes").updateRoutes(a.routes),
  stop: (ctx, a) => stopSandbox(ctx, a),
  delete: (ctx, a) => deleteSandbox(ctx, a.opts ?? {}),
};

/** Runs `a` on the sandbox behind `ctx`: transitions in its queue, the rest at once. */
export function runAction<K extends ActionKind>(
  ctx: SandboxContext,
  a: ActionOf<K>,
): Promise<ActionResults[K]> {
  const handler: (ctx: SandboxContext, a: ActionOf<K>) => Promise<ActionResults[K]> = HANDLERS[a.kind];
  const kind: ActionKind = a.kind;
  return AT_ONCE.has(kind) ? handler(ctx, a) : serialized(ctx, () => handler(ctx, a));
}
