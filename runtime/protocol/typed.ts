/**
 * Typed glue between generated service descriptors (`Task` in gen/containerd/task/v2/shim_pb.ts,
 * `Agent` in gen/cocoon/agent/v1/agent_pb.ts, ...) and the byte-level ttRPC client and server in
 * `./ttrpc/`. Only unary methods are covered; streaming methods use the raw ttRPC stream API.
 *
 * ```ts
 * server.register(...unaryHandlers(Task, { async connect(req) { return { shimPid: Deno.pid }; } }));
 * const task = unaryClient(client, Task);
 * const { taskPid } = await task.connect({ id: "c1" }, { timeoutMs: 5000 });
 * ```
 *
 * @module
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import type {
  DescMessage,
  DescMethod,
  DescService,
  MessageInitShape,
  MessageShape,
} from "@bufbuild/protobuf";
import { RuntimeError } from "../errors.ts";
import type { CallOptions, TtrpcClient } from "./ttrpc/client.ts";
import type { CallContext, ServiceHandlers, UnaryHandler } from "./ttrpc/server.ts";

type MethodShape = Pick<DescMethod, "input" | "output" | "methodKind">;
type Methods<S extends DescService> = S["method"];

/** Keys (lowerCamel, e.g. `resizePty`) of the unary methods of a generated service. */
export type UnaryMethodKey<S extends DescService> = {
  [K in keyof Methods<S>]: Methods<S>[K] extends { methodKind: "unary" } ? K : never;
}[keyof Methods<S>];

type In<M> = M extends MethodShape ? M["input"] : never;
type Out<M> = M extends MethodShape ? M["output"] : never;

/**
 * A server-side implementation of (some of) a service's unary methods. `Ctx` is the transport's
 * call context: ttRPC's {@link CallContext} here, `GrpcCallContext` in `grpc.ts`.
 */
export type UnaryImpl<S extends DescService, Ctx = CallContext> = {
  readonly [K in UnaryMethodKey<S>]?: (
    req: MessageShape<In<Methods<S>[K]>>,
    ctx: Ctx,
  ) => Promise<MessageInitShape<Out<Methods<S>[K]>>>;
};

/** A typed client for a service's unary methods; `Opts` are the transport's per-call options. */
export type UnaryClient<S extends DescService, Opts = CallOptions> = {
  readonly [K in UnaryMethodKey<S>]: (
    req: MessageInitShape<In<Methods<S>[K]>>,
    opts?: Opts,
  ) => Promise<MessageShape<Out<Methods<S>[K]>>>;
};

/** A unary method of a service with the implementation bound to it (or an UNIMPLEMENTED stub). */
export interface BoundUnaryMethod<Ctx> {
  readonly method: DescMethod;
  readonly call: (req: MessageShape<DescMessage>, ctx: Ctx) => Promise<MessageInitShape<DescMessage>>;
}

/**
 * Pairs every unary method of `service` with its implementation from `impl`; methods `impl`
 * lacks reject with `RuntimeError("Unimplemented", "<Method> is not implemented")`.
 */
export function bindUnaryMethods<S extends DescService, Ctx>(
  service: S,
  impl: UnaryImpl<S, Ctx>,
): BoundUnaryMethod<Ctx>[] {
  const fns: Readonly<Record<string, unknown>> = impl;
  return service.methods.filter((m) => m.methodKind === "unary").map((method) => {
    const fn = fns[method.localName];
    const call = typeof fn === "function"
      // Looked up by the descriptor's own localName, so fn has this method's signature.
      ? fn as BoundUnaryMethod<Ctx>["call"]
      : () => Promise.reject(new RuntimeError("Unimplemented", `${method.name} is not implemented`));
    return { method, call };
  });
}

/**
 * Decodes a request or reply of `method`. A bad request is INVALID_ARGUMENT (the peer's fault),
 * a bad reply INTERNAL.
 */
export function decodeMessage(
  method: DescMethod,
  what: "request" | "reply",
  bytes: Uint8Array,
): MessageShape<DescMessage> {
  const schema = what === "request" ? method.input : method.output;
  try {
    return fromBinary(schema, bytes);
  } catch (cause) {
    throw new RuntimeError(
      what === "request" ? "InvalidArgument" : "Internal",
      `Cannot decode ${what} of "${method.parent.typeName}/${method.name}": ${String(cause)}`,
      { cause },
    );
  }
}

/**
 * Builds `[serviceName, handlers]` for `TtrpcServer.register(...)`. Every unary method of the
 * service gets a handler; the ones `impl` lacks answer UNIMPLEMENTED (containerd requires that
 * for unsupported Task methods). A request that does not decode answers INVALID_ARGUMENT.
 */
export function unaryHandlers<S extends DescService>(
  service: S,
  impl: UnaryImpl<S>,
): [string, ServiceHandlers] {
  const handlers: Record<string, UnaryHandler> = {};
  for (const { method, call } of bindUnaryMethods(service, impl)) {
    handlers[method.name] = async (payload, ctx) => {
      const res = await call(decodeMessage(method, "request", payload), ctx);
      return toBinary(method.output, create(method.output, res));
    };
  }
  return [service.typeName, handlers];
}

/** A typed client for the unary methods of `service`, over an open ttRPC client. */
export function unaryClient<S extends DescService>(client: TtrpcClient, service: S): UnaryClient<S> {
  const out: Record<string, unknown> = {};
  for (const method of service.methods) {
    if (method.methodKind !== "unary") continue;
    out[method.localName] = async (req: MessageInitShape<DescMessage>, opts?: CallOptions) => {
      const payload = toBinary(method.input, create(method.input, req));
      return decodeMessage(method, "reply", await client.call(service.typeName, method.name, payload, opts));
    };
  }
  return typedView<UnaryClient<S>>(out);
}

/**
 * The object is built from the descriptor's own method list, so its keys are exactly
 * `UnaryMethodKey<S>`; TypeScript cannot follow that through a loop.
 */
export function typedView<T>(o: Record<string, unknown>): T {
  return o as T;
}
