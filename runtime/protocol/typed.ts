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
  const fns: Readonly<Record<string, unknown>> = impl;
  for (const method of service.methods) {
    if (method.methodKind !== "unary") continue;
    const fn = fns[method.localName];
    handlers[method.name] = typeof fn === "function"
      ? bind(method.input, method.output, fn, method)
      : unimplemented(method);
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
      const reply = await client.call(service.typeName, method.name, payload, opts);
      try {
        return fromBinary(method.output, reply);
      } catch (cause) {
        throw new RuntimeError(
          "Internal",
          `Cannot decode reply of "${service.typeName}/${method.name}": ${String(cause)}`,
          { cause },
        );
      }
    };
  }
  return typedView<UnaryClient<S>>(out);
}

function bind(input: DescMessage, output: DescMessage, fn: unknown, method: DescMethod): UnaryHandler {
  const call = fn as (req: unknown, ctx: CallContext) => Promise<MessageInitShape<DescMessage>>;
  return async (payload, ctx) => {
    let req;
    try {
      req = fromBinary(input, payload);
    } catch (cause) {
      throw new RuntimeError(
        "InvalidArgument",
        `Cannot decode request of "${method.parent.typeName}/${method.name}": ${String(cause)}`,
        { cause },
      );
    }
    const res = await call(req, ctx);
    return toBinary(output, create(output, res));
  };
}

function unimplemented(method: DescMethod): UnaryHandler {
  return () => Promise.reject(new RuntimeError("Unimplemented", `${method.name} is not implemented`));
}

/**
 * The object is built from the descriptor's own method list, so its keys are exactly
 * `UnaryMethodKey<S>`; TypeScript cannot follow that through a loop.
 */
export function typedView<T>(o: Record<string, unknown>): T {
  return o as T;
}
