/**
 * The shim-side Sandbox service (`containerd.runtime.sandbox.v1.Sandbox`, ttRPC) served by the
 * Cocoon daemon on the same socket as the Task API. containerd 1.7's CRI sandbox server
 * (`ENABLE_CRI_SANDBOXES=1`, runtime `sandbox_mode = "shim"`) starts the shim binary with the pod's
 * sandbox id, then calls CreateSandbox/StartSandbox at the address it printed; the containers of
 * the pod reach the same address (containerd copies the sandbox's `address` file into their
 * bundles) and join the VM that StartSandbox booted, because the daemon groups containers by the
 * `io.kubernetes.cri.sandbox-id` annotation, which is the same id.
 *
 * The sandbox holds a member of its own in the daemon's pod (so the VM stays up while no container
 * runs); ShutdownSandbox leaves it, and the last member out deletes the VM.
 *
 * @module
 */
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { RuntimeError } from "../errors.ts";
import type { Logger } from "../log/logger.ts";
import type { JoinOptions } from "../daemon/pods.ts";
import { Sandbox as SandboxService } from "../protocol/gen/containerd/runtime/sandbox/v1/sandbox_pb.ts";
import { NAMESPACE_METADATA_KEY } from "../protocol/events.ts";
import { type CallContext, registerTyped, type TtrpcServer } from "../protocol/ttrpc/mod.ts";
import type { Sandbox } from "../sandbox/mod.ts";
import { goArch } from "./controller.ts";
import {
  adoptEntry,
  type Entry,
  entryMetrics,
  entryPid,
  entryStatus,
  newEntry,
  requireId,
  shutdownEntry,
  startEntry,
  stopEntry,
  waitEntry,
} from "./_entry.ts";
import { podAnnotations } from "./pod_config.ts";

/** What the service needs from the daemon's pods (runtime/daemon/pods.ts `Pods`). */
export interface PodGroups {
  join(group: string, member: string, opts: JoinOptions): Promise<Sandbox>;
  leave(group: string, member: string, namespace?: string): Promise<void>;
  /** The group's sandbox that a previous daemon left running (none: undefined). */
  adopt?(group: string, member: string, opts: { namespace?: string }): Promise<Sandbox | undefined>;
}

export interface ShimSandboxOptions {
  readonly pods: PodGroups;
  readonly log: Logger;
  /** ShutdownSandbox of `id` was served: the daemon may exit once nothing else is left. */
  readonly onShutdown?: (id: string) => void;
}

/** The sandboxes the service holds (the daemon stays up while `size` > 0). */
export interface ShimSandboxes {
  readonly size: number;
}

/** The service's entry: containerd's namespace of CreateSandbox too ("" when none). */
interface ShimEntry extends Entry {
  readonly namespace: string;
}

/** The pod member name that stands for the sandbox itself (never a container id: those are hex). */
export function sandboxMember(id: string): string {
  return `cocoon-sandbox:${id}`;
}

function namespaceOf(ctx: CallContext): string {
  return ctx.metadata.get(NAMESPACE_METADATA_KEY)?.[0] ?? "";
}

/** Registers `containerd.runtime.sandbox.v1.Sandbox` on `server`. */
export function registerShimSandboxService(server: TtrpcServer, opts: ShimSandboxOptions): ShimSandboxes {
  const log = opts.log;
  const entries = new Map<string, ShimEntry>();

  // containerd ids are unique per namespace: two namespaces may each have a sandbox "x".
  const key = (id: string, ctx: CallContext) => `${namespaceOf(ctx)}/${id}`;
  // A sandbox that a previous daemon started (this one restarted): taken over on first use.
  const adopted = async (id: string, ctx: CallContext): Promise<ShimEntry | undefined> => {
    const namespace = namespaceOf(ctx);
    const sb = await opts.pods.adopt?.(id, sandboxMember(id), { namespace }).catch((e: unknown) => {
      log.warn("cannot adopt sandbox", { sandbox: id, error: e });
      return undefined;
    });
    if (sb === undefined) return undefined;
    const known = entries.get(key(id, ctx));
    if (known !== undefined) return known;
    const r = sb.record;
    const e: ShimEntry = {
      ...newEntry(id, r.network?.netns ?? null, r.annotations, new Date(r.createdAt)),
      namespace,
    };
    entries.set(key(id, ctx), e);
    adoptEntry(e, sb, 137, log);
    return e;
  };
  const find = async (id: string, ctx: CallContext): Promise<ShimEntry | undefined> =>
    entries.get(key(id, ctx)) ?? (id === "" ? undefined : await adopted(id, ctx));
  const get = async (id: string, what: string, ctx: CallContext): Promise<ShimEntry> => {
    const e = await find(requireId(id, what), ctx);
    if (e === undefined) throw new RuntimeError("NotFound", `Cannot ${what} sandbox "${id}": not found`);
    return e;
  };

  registerTyped(server, SandboxService, {
    async createSandbox(req, ctx) {
      const id = requireId(req.sandboxId, "create");
      if ((await find(id, ctx)) !== undefined) {
        throw new RuntimeError("AlreadyExists", `Cannot create sandbox "${id}": it already exists`);
      }
      const annotations = { ...podAnnotations(req.options), ...req.annotations };
      entries.set(key(id, ctx), {
        ...newEntry(id, req.netnsPath === "" ? null : req.netnsPath, annotations, new Date()),
        namespace: namespaceOf(ctx),
      });
      log.info("sandbox created", { sandbox: id, netns: req.netnsPath, bundle: req.bundlePath });
      return {};
    },
    async startSandbox(req, ctx) {
      const e = await get(req.sandboxId, "start", ctx);
      // The namespace keys the pod as the Task API's containers key it (one VM per namespace + id).
      const boot = () =>
        opts.pods.join(e.id, sandboxMember(e.id), {
          namespace: e.namespace,
          annotations: e.annotations,
          netns: e.netns,
          hostname: null,
          signal: ctx.signal,
        });
      await startEntry(e, boot, log);
      return { pid: entryPid(e), createdAt: timestampFromDate(e.createdAt) };
    },
    async platform(req, ctx) {
      await get(req.sandboxId, "read the platform of", ctx);
      return { platform: { os: "linux", architecture: goArch(Deno.build.arch) } };
    },
    async stopSandbox(req, ctx) {
      const e = await find(req.sandboxId, ctx);
      if (e === undefined) return {};
      await stopEntry(e, req.timeoutSecs, log);
      return {};
    },
    async waitSandbox(req, ctx) {
      const e = await get(req.sandboxId, "wait for", ctx);
      return await waitEntry(e, ctx.signal);
    },
    async sandboxStatus(req, ctx) {
      return entryStatus(await get(req.sandboxId, "read the status of", ctx), req.verbose);
    },
    async pingSandbox(req, ctx) {
      const e = await get(req.sandboxId, "ping", ctx);
      if (e.sandbox !== undefined && e.exit === undefined && e.sandbox.status().kind === "stopped") {
        throw new RuntimeError("Unavailable", `Cannot ping sandbox "${e.id}": its VM has stopped`);
      }
      return {};
    },
    async shutdownSandbox(req, ctx) {
      const e = await find(req.sandboxId, ctx);
      if (e !== undefined) {
        await shutdownEntry(e, () => opts.pods.leave(e.id, sandboxMember(e.id), e.namespace));
        entries.delete(key(e.id, ctx));
        log.info("sandbox shut down", { sandbox: e.id });
      }
      opts.onShutdown?.(req.sandboxId);
      return {};
    },
    async sandboxMetrics(req, ctx) {
      return await entryMetrics(await get(req.sandboxId, "read the metrics of", ctx));
    },
  });
  log.debug("shim sandbox service registered");
  return {
    get size() {
      return entries.size;
    },
  };
}
