/**
 * The iSulad flavour of the sandbox Controller (`containerd.services.sandbox.v1.Controller` with
 * iSulad's messages, see isulad_codec.ts) on the same sandbox controller as containerd 2.0's:
 * Create/Start/Platform/Stop/Wait/Status/Shutdown map one to one (Start and Status answer the
 * Task API address as `task_address`); the three extra calls map onto the same core:
 * - Prepare (container): writes the container's OCI bundle under `<bundleRoot>/<sandbox>/<id>`
 *   (the JSON spec iSulad sends, tagged with the sandbox id so that the Task API's Create joins the
 *   sandbox's VM, and the rootfs mounts mounted at `rootfs`) and answers its path; iSulad then
 *   calls Create on the Task API with that bundle. Prepare of an exec checks the container and
 *   answers the same bundle.
 * - Purge (container): unmounts and removes that bundle; of an exec: nothing to undo.
 * - UpdateResources: the controller's Update (fields `resources` and the annotation keys; a
 *   container's as `<id>/resources`).
 *
 * iSulad's and containerd 2.0's messages share a service path but not their field numbers, so a
 * sandboxer socket serves one flavour.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { create } from "@bufbuild/protobuf";
import { type Timestamp, timestampDate } from "@bufbuild/protobuf/wkt";
import type * as grpc from "@grpc/grpc-js";
import { grpcCodeOf, isRuntimeError, RuntimeError } from "../errors.ts";
import type { Logger } from "../log/logger.ts";
import { type JsonObject, parseOciSpecText } from "../oci/spec.ts";
import { mountRootfs, unmountRootfs } from "../daemon/rootfs.ts";
import type { GrpcCallContext } from "../protocol/grpc.ts";
import {
  ControllerCreateRequestSchema,
  ControllerCreateResponseSchema,
  ControllerPlatformRequestSchema,
  ControllerPlatformResponseSchema,
  ControllerShutdownRequestSchema,
  ControllerStartRequestSchema,
  ControllerStartResponseSchema,
  ControllerStatusRequestSchema,
  ControllerStatusResponseSchema,
  ControllerStopRequestSchema,
  ControllerUpdateRequestSchema,
  ControllerWaitRequestSchema,
  ControllerWaitResponseSchema,
} from "../protocol/gen/containerd/services/sandbox/v1/sandbox_pb.ts";
import { CRI_SANDBOX_ID } from "../shim/address.ts";
import type { SandboxController } from "./controller.ts";
import {
  decodeIsuladRequest,
  encodeIsuladResponse,
  ISULAD_METHODS,
  type IsuladMethod,
  type IsuladRequest,
  type ResponseValue,
} from "./isulad_codec.ts";
import { removeTree } from "../sys/safe_remove.ts";

const ISULAD_SERVICE = "containerd.services.sandbox.v1.Controller";

export interface IsuladOptions {
  readonly controller: SandboxController;
  /** Where Prepare writes container bundles. */
  readonly bundleRoot: string;
  readonly log: Logger;
}

const dec = new TextDecoder();
const SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

function safeId(what: string, id: string, call: string): string {
  if (!SAFE_ID.test(id)) {
    throw new RuntimeError("InvalidArgument", `Cannot ${call}: invalid ${what} "${id}"`);
  }
  return id;
}

/** Annotations of the PodSandboxConfig JSON that iSulad puts in Create's options. Pure. */
export function jsonPodAnnotations(value: Uint8Array | undefined): Record<string, string> {
  if (value === undefined || value.length === 0) return {};
  let doc: unknown;
  try {
    doc = JSON.parse(dec.decode(value));
  } catch {
    return {};
  }
  if (typeof doc !== "object" || doc === null || !("annotations" in doc)) return {};
  const a = doc.annotations;
  if (typeof a !== "object" || a === null) return {};
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(a)) if (typeof v === "string") out[k] = v;
  return out;
}

/** The spec document iSulad sent, tagged with the sandbox id and rooted at `rootfs` when mounted. */
function bundleSpec(raw: JsonObject, sandboxId: string, mounted: boolean): JsonObject {
  const prev = raw["annotations"];
  const annotations = typeof prev === "object" && prev !== null && !Array.isArray(prev) ? prev : {};
  const root = raw["root"];
  const rootObj = typeof root === "object" && root !== null && !Array.isArray(root) ? root : {};
  return {
    ...raw,
    annotations: { ...annotations, [CRI_SANDBOX_ID]: sandboxId },
    ...(mounted ? { root: { ...rootObj, path: "rootfs" } } : {}),
  };
}

type Handler = (req: IsuladRequest, ctx: GrpcCallContext) => Promise<ResponseValue[]>;

/** `[definition, implementation]` for `grpc.Server.addService(...)`. */
export function isuladService(
  opts: IsuladOptions,
): [grpc.ServiceDefinition, grpc.UntypedServiceImplementation] {
  const h = opts.controller.handlers();
  const bundleOf = (sandboxId: string, containerId: string, call: string) =>
    `${opts.bundleRoot}/${safeId("sandbox id", sandboxId, call)}/${
      safeId("container id", containerId, call)
    }`;
  const handlers: Record<IsuladMethod, Handler> = {
    Create: async (r, ctx) => {
      const res = await h.create(
        create(ControllerCreateRequestSchema, {
          sandboxId: r.sandboxId,
          sandboxer: r.sandboxer,
          netnsPath: r.netnsPath,
          annotations: jsonPodAnnotations(r.options?.value),
        }),
        ctx,
      );
      return [{ kind: "string", no: 1, value: create(ControllerCreateResponseSchema, res).sandboxId }];
    },
    Start: async (r, ctx) => {
      const s = create(
        ControllerStartResponseSchema,
        await h.start(create(ControllerStartRequestSchema, { sandboxId: r.sandboxId }), ctx),
      );
      return [
        { kind: "string", no: 1, value: s.sandboxId },
        { kind: "uint32", no: 2, value: s.pid },
        { kind: "timestamp", no: 3, value: date(s.createdAt) },
        { kind: "map", no: 4, value: s.labels },
        { kind: "string", no: 5, value: s.address },
      ];
    },
    Platform: async (r, ctx) => {
      const p = create(
        ControllerPlatformResponseSchema,
        await h.platform(create(ControllerPlatformRequestSchema, { sandboxId: r.sandboxId }), ctx),
      );
      return [{
        kind: "platform",
        no: 1,
        os: p.platform?.os ?? "",
        architecture: p.platform?.architecture ?? "",
      }];
    },
    Prepare: async (r) => {
      const call = `prepare container "${r.containerId}" of sandbox "${r.sandboxId}"`;
      const bundle = bundleOf(r.sandboxId, r.containerId, call);
      if (opts.controller.running(r.sandboxId) === undefined) {
        throw new RuntimeError("FailedPrecondition", `Cannot ${call}: the sandbox is not running`);
      }
      if (r.execId !== "") {
        if (!(await Deno.stat(`${bundle}/config.json`).then(() => true, () => false))) {
          throw new RuntimeError("NotFound", `Cannot ${call}: the container is not prepared`);
        }
        return [{ kind: "string", no: 1, value: bundle }];
      }
      const spec = parseOciSpecText(
        dec.decode(r.options?.value ?? new Uint8Array()),
        `Prepare of "${r.containerId}"`,
      );
      await Deno.mkdir(`${bundle}/rootfs`, { recursive: true, mode: 0o700 });
      try {
        const mounted = r.rootfs.length > 0;
        if (mounted) {
          await mountRootfs(
            r.rootfs.map((m) => ({ type: m.type, source: m.source, options: [...m.options] })),
            `${bundle}/rootfs`,
          );
        }
        await Deno.writeTextFile(
          `${bundle}/config.json`,
          JSON.stringify(bundleSpec(spec.raw, r.sandboxId, mounted)),
        );
      } catch (e) {
        // Nothing is removed under a rootfs that could not be unmounted: the user's data stays.
        const unmounted = await unmountRootfs(`${bundle}/rootfs`).then(() => true, (ue: unknown) => {
          opts.log.warn("cannot unmount a failed prepare's rootfs: its bundle stays", { bundle, error: ue });
          return false;
        });
        if (unmounted) {
          await removeTree(bundle).catch((re: unknown) =>
            opts.log.warn("cannot remove a failed prepare's bundle", { bundle, error: re })
          );
        }
        throw e;
      }
      opts.log.info("container prepared", { sandbox: r.sandboxId, container: r.containerId, bundle });
      return [{ kind: "string", no: 1, value: bundle }];
    },
    Purge: async (r) => {
      if (r.execId !== "") return [];
      const bundle = bundleOf(r.sandboxId, r.containerId, `purge container "${r.containerId}"`);
      // An unmount that fails fails the purge: nothing is removed under a mounted rootfs.
      await unmountRootfs(`${bundle}/rootfs`);
      await removeTree(bundle);
      opts.log.info("container purged", { sandbox: r.sandboxId, container: r.containerId });
      return [];
    },
    UpdateResources: async (r, ctx) => {
      const prefix = r.containerId === "" ? "" : `${r.containerId}/`;
      await h.update(
        create(ControllerUpdateRequestSchema, {
          sandboxId: r.sandboxId,
          fields: [
            `${prefix}resources`,
            ...Object.keys(r.annotations).map((k) => `${prefix}annotations.${k}`),
          ],
        }),
        ctx,
      );
      return [];
    },
    Stop: async (r, ctx) => {
      await h.stop(
        create(ControllerStopRequestSchema, { sandboxId: r.sandboxId, timeoutSecs: r.timeoutSecs }),
        ctx,
      );
      return [];
    },
    Wait: async (r, ctx) => {
      const w = create(
        ControllerWaitResponseSchema,
        await h.wait(create(ControllerWaitRequestSchema, { sandboxId: r.sandboxId }), ctx),
      );
      return [
        { kind: "uint32", no: 1, value: w.exitStatus },
        { kind: "timestamp", no: 2, value: date(w.exitedAt) },
      ];
    },
    Status: async (r, ctx) => {
      const s = create(
        ControllerStatusResponseSchema,
        await h.status(
          create(ControllerStatusRequestSchema, { sandboxId: r.sandboxId, verbose: r.verbose }),
          ctx,
        ),
      );
      return [
        { kind: "string", no: 1, value: s.sandboxId },
        { kind: "uint32", no: 2, value: s.pid },
        { kind: "string", no: 3, value: s.state },
        { kind: "string", no: 4, value: s.address },
        { kind: "map", no: 5, value: s.info },
        { kind: "timestamp", no: 6, value: date(s.createdAt) },
        { kind: "timestamp", no: 7, value: date(s.exitedAt) },
      ];
    },
    Shutdown: async (r, ctx) => {
      await h.shutdown(create(ControllerShutdownRequestSchema, { sandboxId: r.sandboxId }), ctx);
      return [];
    },
  };
  return [definition(), implementation(handlers, opts.log)];
}

function date(ts: Timestamp | undefined): Date | undefined {
  return ts === undefined ? undefined : timestampDate(ts);
}

const raw = {
  serialize: (b: Uint8Array) => Buffer.from(b),
  deserialize: (b: Buffer) => new Uint8Array(b),
};

function definition(): grpc.ServiceDefinition {
  const def: Record<string, grpc.MethodDefinition<Uint8Array, Uint8Array>> = {};
  for (const m of ISULAD_METHODS) {
    def[m] = {
      path: `/${ISULAD_SERVICE}/${m}`,
      requestStream: false,
      responseStream: false,
      requestSerialize: raw.serialize,
      requestDeserialize: raw.deserialize,
      responseSerialize: raw.serialize,
      responseDeserialize: raw.deserialize,
    };
  }
  return def;
}

function implementation(
  handlers: Record<IsuladMethod, Handler>,
  log: Logger,
): grpc.UntypedServiceImplementation {
  const out: grpc.UntypedServiceImplementation = {};
  for (const m of ISULAD_METHODS) {
    const handler: grpc.handleUnaryCall<Uint8Array, Uint8Array> = (c, callback) => {
      const ac = new AbortController();
      c.on("cancelled", () => ac.abort(new RuntimeError("Cancelled", `Call "${m}" was cancelled`)));
      const metadata = new Map<string, string[]>();
      for (const [k, v] of Object.entries(c.metadata.getMap())) {
        if (typeof v === "string") metadata.set(k.toLowerCase(), [v]);
      }
      const ctx: GrpcCallContext = { service: ISULAD_SERVICE, method: m, metadata, signal: ac.signal };
      Promise.resolve()
        .then(() => handlers[m](decodeIsuladRequest(m, c.request), ctx))
        .then(
          (fields) => callback(null, encodeIsuladResponse(fields)),
          (e: unknown) => {
            if (isRuntimeError(e)) return callback({ code: grpcCodeOf(e.code), details: e.message });
            log.error("handler failed", { call: `${ISULAD_SERVICE}/${m}`, error: String(e) });
            callback({ code: 13, details: `Cannot complete "${m}": internal error` });
          },
        );
    };
    out[m] = handler;
  }
  return out;
}
