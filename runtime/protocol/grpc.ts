/**
 * Generated service descriptors on `@grpc/grpc-js` (gRPC over HTTP/2, e.g. on a unix socket), for
 * containerd 2.0's `containerd.services.sandbox.v1.Controller`, which containerd calls over gRPC.
 * Messages are encoded with the generated schemas; no proto-loader.
 *
 * ```ts
 * const server = new grpc.Server();
 * server.addService(...grpcUnaryService(Controller, { async platform() { return {...}; } }));
 * ```
 *
 * @module
 */
import { Buffer } from "node:buffer";
import * as grpc from "@grpc/grpc-js";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import type {
  DescMessage,
  DescMethod,
  DescService,
  MessageInitShape,
  MessageShape,
} from "@bufbuild/protobuf";
import { errorCodeOfGrpc, grpcCodeOf, isRuntimeError, RuntimeError } from "../errors.ts";
import { type Logger, rootLog } from "../log/logger.ts";

/** What a gRPC unary handler knows about its call. */
export interface GrpcCallContext {
  readonly service: string;
  readonly method: string;
  /** Request metadata, keys lower-cased; binary values are dropped. */
  readonly metadata: ReadonlyMap<string, readonly string[]>;
  /** Aborted when the client cancels or its deadline passes. */
  readonly signal: AbortSignal;
}

/** Per-call options of a {@link grpcUnaryClient}. */
export interface GrpcCallOptions {
  /** Deadline in milliseconds. */
  readonly timeoutMs?: number;
  readonly metadata?: Readonly<Record<string, string>>;
}

type AnyMessage = MessageShape<DescMessage>;
type MethodShape = Pick<DescMethod, "input" | "output" | "methodKind">;
type Methods<S extends DescService> = S["method"];
type In<M> = M extends MethodShape ? M["input"] : never;
type Out<M> = M extends MethodShape ? M["output"] : never;

/** Keys (lowerCamel, e.g. `platform`) of the unary methods of a generated service. */
export type UnaryMethodKey<S extends DescService> = {
  [K in keyof Methods<S>]: Methods<S>[K] extends { methodKind: "unary" } ? K : never;
}[keyof Methods<S>];

/** Server-side implementation of (some of) a service's unary methods, keyed by local name. */
export type GrpcUnaryImpl<S extends DescService> = {
  readonly [K in UnaryMethodKey<S>]?: (
    req: MessageShape<In<Methods<S>[K]>>,
    ctx: GrpcCallContext,
  ) => Promise<MessageInitShape<Out<Methods<S>[K]>>>;
};

/** A typed gRPC client for a service's unary methods. */
export type GrpcUnaryClient<S extends DescService> = {
  readonly [K in UnaryMethodKey<S>]: (
    req: MessageInitShape<In<Methods<S>[K]>>,
    opts?: GrpcCallOptions,
  ) => Promise<MessageShape<Out<Methods<S>[K]>>>;
};

/** The grpc-js service definition of `service` (paths `/<full service name>/<Method>`). */
function grpcServiceDefinition(service: DescService): grpc.ServiceDefinition {
  const def: Record<string, grpc.MethodDefinition<AnyMessage, AnyMessage>> = {};
  for (const m of service.methods) {
    def[m.name] = {
      path: `/${service.typeName}/${m.name}`,
      requestStream: m.methodKind === "client_streaming" || m.methodKind === "bidi_streaming",
      responseStream: m.methodKind === "server_streaming" || m.methodKind === "bidi_streaming",
      requestSerialize: (v) => Buffer.from(toBinary(m.input, v)),
      requestDeserialize: (b) => decodeMessage(m, "request", b),
      responseSerialize: (v) => Buffer.from(toBinary(m.output, v)),
      responseDeserialize: (b) => decodeMessage(m, "reply", b),
    };
  }
  return def;
}

/**
 * `[definition, implementation]` for `grpc.Server.addService(...)`. Unary methods missing from
 * `impl` answer UNIMPLEMENTED; a thrown RuntimeError keeps its code and message; anything else
 * answers INTERNAL and is logged.
 */
export function grpcUnaryService<S extends DescService>(
  service: S,
  impl: GrpcUnaryImpl<S>,
  opts: { log?: Logger } = {},
): [grpc.ServiceDefinition, grpc.UntypedServiceImplementation] {
  const log = opts.log ?? rootLog().child({ subsystem: "grpc-server" });
  const handlers: grpc.UntypedServiceImplementation = {};
  const fns: Readonly<Record<string, unknown>> = impl;
  for (const m of service.methods) {
    if (m.methodKind !== "unary") continue;
    const fn = fns[m.localName];
    const call = typeof fn === "function"
      // Looked up by the descriptor's own localName, so fn has this method's signature.
      ? fn as (req: AnyMessage, ctx: GrpcCallContext) => Promise<MessageInitShape<DescMessage>>
      : () => Promise.reject(new RuntimeError("Unimplemented", `${m.name} is not implemented`));
    const handler: grpc.handleUnaryCall<AnyMessage, AnyMessage> = (c, callback) => {
      const ac = new AbortController();
      c.on("cancelled", () => ac.abort(new RuntimeError("Cancelled", `Call "${m.name}" was cancelled`)));
      const ctx: GrpcCallContext = {
        service: service.typeName,
        method: m.name,
        metadata: metadataMap(c.metadata),
        signal: ac.signal,
      };
      call(c.request, ctx).then(
        (res) => callback(null, create(m.output, res)),
        (e) => callback(statusOf(e, m, log)),
      );
    };
    handlers[m.name] = handler;
  }
  return [grpcServiceDefinition(service), handlers];
}

/** A typed gRPC client for the unary methods of `service` at `address` (e.g. "unix:///run/x.sock"). */
export function grpcUnaryClient<S extends DescService>(
  service: S,
  address: string,
): { client: GrpcUnaryClient<S>; close(): void } {
  const Ctor = grpc.makeGenericClientConstructor(grpcServiceDefinition(service), service.name);
  const raw = new Ctor(address, grpc.credentials.createInsecure());
  const out: Record<string, unknown> = {};
  for (const m of service.methods) {
    if (m.methodKind !== "unary") continue;
    const path = `/${service.typeName}/${m.name}`;
    out[m.localName] = (req: MessageInitShape<DescMessage>, o: GrpcCallOptions = {}) =>
      new Promise<AnyMessage>((resolve, reject) => {
        const md = new grpc.Metadata();
        for (const [k, v] of Object.entries(o.metadata ?? {})) md.set(k, v);
        const callOpts: grpc.CallOptions = o.timeoutMs !== undefined
          ? { deadline: Date.now() + o.timeoutMs }
          : {};
        raw.makeUnaryRequest<AnyMessage, AnyMessage>(
          path,
          (v) => Buffer.from(toBinary(m.input, v)),
          (b) => decodeMessage(m, "reply", b),
          create(m.input, req),
          md,
          callOpts,
          (err, res) => {
            if (err) {
              reject(new RuntimeError(errorCodeOfGrpc(err.code), err.details || err.message, { cause: err }));
            } else if (res === undefined) {
              reject(new RuntimeError("Internal", `Call "${path}" returned no reply`));
            } else resolve(res);
          },
        );
      });
  }
  // Built from the descriptor's own method list, which is exactly what the type describes.
  return { client: out as GrpcUnaryClient<S>, close: () => raw.close() };
}

/** Decodes a request (bad: INVALID_ARGUMENT, the peer's fault) or a reply (bad: INTERNAL). */
function decodeMessage(m: DescMethod, what: "request" | "reply", bytes: Uint8Array): AnyMessage {
  try {
    return fromBinary(what === "request" ? m.input : m.output, bytes);
  } catch (cause) {
    throw new RuntimeError(
      what === "request" ? "InvalidArgument" : "Internal",
      `Cannot decode ${what} of "${m.parent.typeName}/${m.name}": ${String(cause)}`,
      { cause },
    );
  }
}

function metadataMap(md: grpc.Metadata): ReadonlyMap<string, readonly string[]> {
  const out = new Map<string, string[]>();
  for (const [k, v] of Object.entries(md.getMap())) {
    if (typeof v === "string") out.set(k.toLowerCase(), [v]);
  }
  return out;
}

function statusOf(e: unknown, m: DescMethod, log: Logger): Partial<grpc.StatusObject> {
  if (isRuntimeError(e)) return { code: grpcCodeOf(e.code), details: e.message };
  log.error("handler failed", { call: `${m.parent.typeName}/${m.name}`, error: String(e) });
  return { code: grpc.status.INTERNAL, details: `Cannot complete "${m.name}": internal error` };
}
