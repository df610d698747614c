/**
 * The containerd Sandbox API controller (`containerd.services.sandbox.v1.Controller`) on the
 * sandbox core: Create records a sandbox, Start boots its VM, Wait/Status/Stop/Shutdown follow it.
 * Start answers the Task API address where containerd reaches the sandbox's containers directly
 * (the Cocoon daemon's socket), so no shim process runs.
 *
 * @module
 */
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { isRuntimeError, RuntimeError } from "../errors.ts";
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
import type { Logger } from "../log/logger.ts";
import type { GrpcUnaryImpl } from "../protocol/grpc.ts";
import type { Controller } from "../protocol/gen/containerd/services/sandbox/v1/sandbox_pb.ts";
import { Sandbox, type SandboxRuntime } from "../sandbox/mod.ts";
import { sandboxIdOf } from "../shim/address.ts";

export { SANDBOX_NOTREADY, SANDBOX_READY, vmExitStatus } from "./_entry.ts";

export interface SandboxerOptions {
  readonly runtime: SandboxRuntime;
  readonly log: Logger;
  /** Task API endpoint answered by Start and Status, e.g. `ttrpc+unix:///run/cocoon/daemon/cocoon.sock`. */
  readonly taskAddress: string;
  /** Task API version of that endpoint (2: `containerd.task.v2.Task`). */
  readonly taskVersion?: number;
  /** A sandbox the host daemon already holds (taken over at its start): used instead of attaching again. */
  readonly claim?: (coreId: string) => Sandbox | undefined;
}

/** The Controller's entry: the fields of the last Update too, for Status. */
interface ControllerEntry extends Entry {
  updated: readonly string[];
}

/** containerd's architecture name for Deno's. Pure. */
export function goArch(arch: string): string {
  return arch === "x86_64" ? "amd64" : arch === "aarch64" ? "arm64" : arch;
}

/** The controller's handlers, for {@link grpcUnaryService}. */
export class SandboxController {
  readonly #rt: SandboxRuntime;
  readonly #log: Logger;
  readonly #address: string;
  readonly #version: number;
  readonly #entries = new Map<string, ControllerEntry>();
  readonly #claim: (coreId: string) => Sandbox | undefined;

  constructor(opts: SandboxerOptions) {
    this.#rt = opts.runtime;
    this.#log = opts.log;
    this.#address = opts.taskAddress;
    this.#version = opts.taskVersion ?? 2;
    this.#claim = opts.claim ?? (() => undefined);
  }

  /** The running sandbox of containerd's sandbox `id`, when this controller started or adopted it. */
  running(id: string): Sandbox | undefined {
    const e = this.#entries.get(id);
    return e?.exit === undefined ? e?.sandbox : undefined;
  }

  /** The running sandbox of a core sandbox id (the management API's lookup). */
  byCoreId(coreId: string): Sandbox | undefined {
    for (const e of this.#entries.values()) {
      if (e.exit === undefined && e.sandbox?.id === coreId) return e.sandbox;
    }
    return undefined;
  }

  #newEntry(
    id: string,
    netns: string | null,
    annotations: Readonly<Record<string, string>>,
    at: Date,
  ): ControllerEntry {
    const e: ControllerEntry = { ...newEntry(id, netns, annotations, at), updated: [] };
    this.#entries.set(id, e);
    return e;
  }

  /** The entry of `id`; after a restart of the sandboxer, a sandbox left running is adopted. */
  async #entry(id: string, what: string): Promise<ControllerEntry> {
    const known = this.#entries.get(id);
    if (known !== undefined) return known;
    let sb: Sandbox;
    try {
      sb = this.#claim(sandboxIdOf(requireId(id, what))) ?? await Sandbox.fetch(this.#rt, sandboxIdOf(id));
    } catch (cause) {
      if (isRuntimeError(cause) && cause.code === "NotFound") {
        throw new RuntimeError("NotFound", `Cannot ${what} sandbox "${id}": not found`, { cause });
      }
      throw cause;
    }
    if (this.#entries.has(id)) return this.#entries.get(id) ?? this.#entry(id, what);
    const e = this.#newEntry(id, null, {}, new Date(sb.record.createdAt));
    adoptEntry(e, sb, 0, this.#log);
    return e;
  }

  /** The entry of `id`, or undefined when there is none (Stop and Shutdown of a sandbox gone). */
  #existing(id: string, what: string): Promise<ControllerEntry | undefined> {
    return this.#entry(id, what).catch((err) => {
      if (isRuntimeError(err) && err.code === "NotFound") return undefined;
      throw err;
    });
  }

  /** Deletes the sandbox and forgets it. */
  async #remove(e: ControllerEntry, remove: (sb: Sandbox) => Promise<unknown>): Promise<void> {
    await shutdownEntry(e, remove);
    this.#entries.delete(e.id);
  }

  /** The gRPC handlers. */
  handlers(): Required<GrpcUnaryImpl<typeof Controller>> {
    return {
      create: (req) =>
        Promise.resolve().then(() => {
          const id = requireId(req.sandboxId, "create");
          if (this.#entries.has(id)) {
            throw new RuntimeError("AlreadyExists", `Cannot create sandbox "${id}": it already exists`);
          }
          const at = req.sandbox?.createdAt !== undefined
            ? new Date(Number(req.sandbox.createdAt.seconds) * 1000)
            : new Date();
          this.#newEntry(id, req.netnsPath === "" ? null : req.netnsPath, { ...req.annotations }, at);
          this.#log.info("sandbox created", { sandbox: id, netns: req.netnsPath });
          return { sandboxId: id };
        }),
      start: async (req, ctx) => {
        const e = await this.#entry(req.sandboxId, "start");
        const boot = () =>
          Sandbox.create(this.#rt, {
            id: sandboxIdOf(e.id),
            annotations: e.annotations,
            ...(e.netns !== null ? { netns: e.netns } : {}),
            signal: ctx.signal,
          });
        await startEntry(e, boot, this.#log);
        return {
          sandboxId: e.id,
          pid: entryPid(e),
          createdAt: timestampFromDate(e.createdAt),
          labels: {},
          address: this.#address,
          version: this.#version,
        };
      },
      platform: () => Promise.resolve({ platform: { os: "linux", architecture: goArch(Deno.build.arch) } }),
      stop: async (req) => {
        const e = await this.#existing(req.sandboxId, "stop");
        if (e !== undefined) await stopEntry(e, req.timeoutSecs, this.#log);
        return {};
      },
      wait: async (req, ctx) => {
        const e = await this.#entry(req.sandboxId, "wait for");
        return await waitEntry(e, ctx.signal);
      },
      status: async (req) => {
        const e = await this.#entry(req.sandboxId, "read the status of");
        const status = entryStatus(e, req.verbose);
        if (e.updated.length > 0) status.info["cocoon.updated_fields"] = e.updated.join(",");
        const sb = e.sandbox;
        return {
          ...status,
          address: sb !== undefined ? this.#address : "",
          version: sb !== undefined ? this.#version : 0,
        };
      },
      shutdown: async (req) => {
        const e = await this.#existing(req.sandboxId, "shut down");
        if (e === undefined) return {};
        await this.#remove(e, (sb) => sb.act({ kind: "delete", opts: { force: true } }));
        this.#log.info("sandbox shut down", { sandbox: e.id });
        return {};
      },
      metrics: async (req) => {
        return await entryMetrics(await this.#entry(req.sandboxId, "read the metrics of"));
      },
      update: async (req) => {
        const e = await this.#entry(req.sandboxId, "update");
        e.updated = [...req.fields];
        this.#log.info("sandbox updated", { sandbox: e.id, fields: req.fields });
        return {};
      },
    };
  }

  /** Deletes every sandbox this controller started (sandboxer shutdown with `--delete-on-exit`, tests). */
  async closeAll(): Promise<void> {
    for (const e of [...this.#entries.values()]) {
      await this.#remove(
        e,
        (sb) =>
          sb.act({ kind: "delete", opts: { force: true } }).catch((err) =>
            this.#log.error("sandbox delete failed", { sandbox: e.id, error: String(err) })
          ),
      );
    }
  }

  /** Drops connections to every VM and leaves them running (a restarted sandboxer adopts them). */
  async releaseAll(): Promise<void> {
    for (const e of this.#entries.values()) {
      if (e.sandbox !== undefined && e.exit === undefined) await e.sandbox.release();
    }
    this.#entries.clear();
  }
}
