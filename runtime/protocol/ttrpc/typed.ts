/**
 * A typed layer over the bytes-in/bytes-out core, driven by protoc-gen-es v2 service descriptors
 * (`GenService`/`DescService`): a client object with one method per RPC (keyed by the descriptor's
 * `localName`, e.g. `check` for `Check`), and typed server registration.
 *
 * @module
 */
import {
  create,
  type DescMessage,
  type DescMethod,
  type DescService,
  fromBinary,
  type MessageInitShape,
  type MessageShape,
  toBinary,
} from "@bufbuild/protobuf";
import { ProtocolError } from "../../errors.ts";
import type { CallOptions, StreamOptions, TtrpcClient } from "./client.ts";
import type { ClientStream } from "./client_stream.ts";
import type { CallContext, MethodHandler, TtrpcServer } from "./server.ts";
import type { ServerStream } from "./server_stream.ts";

type Unary = { readonly methodKind: "unary"; readonly input: DescMessage; readonly output: DescMessage };
type Streaming = {
  readonly methodKind: "server_streaming" | "client_streaming" | "bidi_streaming";
  readonly input: DescMessage;
  readonly output: DescMessage;
};

/** A typed view of a client stream. */
export interface TypedClientStream<I extends DescMessage, O extends DescMessage>
  extends AsyncIterable<MessageShape<O>> {
  readonly raw: ClientStream;
  send(msg: MessageInitShape<I>): Promise<void>;
  closeSend(): Promise<void>;
}

/** A typed view of a server stream. */
export interface TypedServerStream<I extends DescMessage, O extends DescMessage>
  extends AsyncIterable<MessageShape<I>> {
  readonly raw: ServerStream;
  /** The request of a server-streaming call (decoded `stream.request`). */
  readonly request: MessageShape<I>;
  send(msg: MessageInitShape<O>): Promise<void>;
}

/** One method per RPC of `S`, keyed by local name. */
export type TypedClient<S extends DescService> = {
  [K in keyof S["method"]]: S["method"][K] extends Unary
    ? (req: MessageInitShape<S["method"][K]["input"]>, opts?: CallOptions) => Promise<
      MessageShape<S["method"][K]["output"]>
    >
    : S["method"][K] extends Streaming ? (
        opts?: Omit<StreamOptions, "request" | "clientStreaming"> & {
          request?: MessageInitShape<S["method"][K]["input"]>;
        },
      ) => TypedClientStream<S["method"][K]["input"], S["method"][K]["output"]>
    : never;
};

/** Handlers for (some of) the RPCs of `S`, keyed by local name; missing ones answer UNIMPLEMENTED. */
export type TypedImpl<S extends DescService> = {
  [K in keyof S["method"]]?: S["method"][K] extends Unary ? (
      req: MessageShape<S["method"][K]["input"]>,
      ctx: CallContext,
    ) => Promise<MessageInitShape<S["method"][K]["output"]>>
    : S["method"][K] extends Streaming ? (
        stream: TypedServerStream<S["method"][K]["input"], S["method"][K]["output"]>,
        ctx: CallContext,
      ) => Promise<void>
    : never;
};

/** Builds a typed client for `service` on a connection. */
export function typedClient<S extends DescService>(client: TtrpcClient, service: S): TypedClient<S> {
  const out: Record<string, unknown> = {};
  for (const m of service.methods) {
    out[m.localName] = m.methodKind === "unary"
      ? async (req: MessageInitShape<DescMessage>, opts?: CallOptions) => {
        const bytes = await client.call(
          service.typeName,
          m.name,
          toBinary(m.input, create(m.input, req)),
          opts,
        );
        return decode(m, m.output, bytes, "response");
      }
      : (opts: StreamOptions & { request?: MessageInitShape<DescMessage> } = {}) => {
        const clientStreaming = m.methodKind !== "server_streaming";
        const { request, ...rest } = opts;
        const raw = client.stream(service.typeName, m.name, {
          ...rest,
          clientStreaming,
          ...(!clientStreaming ? { request: toBinary(m.input, create(m.input, request)) } : {}),
        });
        return {
          raw,
          send: (msg: MessageInitShape<DescMessage>) => raw.send(toBinary(m.input, create(m.input, msg))),
          closeSend: () => raw.closeSend(),
          async *[Symbol.asyncIterator]() {
            for await (const b of raw) yield decode(m, m.output, b, "message");
          },
        };
      };
  }
  // The object is built from the descriptor's own method list, which is exactly what the type describes.
  return out as TypedClient<S>;
}

/** Registers typed handlers for `service` on `server`. */
export function registerTyped<S extends DescService>(
  server: TtrpcServer,
  service: S,
  impl: TypedImpl<S>,
): void {
  const handlers: Record<string, MethodHandler> = {};
  const byName: Record<string, unknown> = { ...impl };
  for (const m of service.methods) {
    const fn = byName[m.localName];
    if (typeof fn !== "function") continue;
    if (m.methodKind === "unary") {
      handlers[m.name] = async (payload, ctx) => {
        const req = decode(m, m.input, payload, "request");
        const res: unknown = await fn(req, ctx);
        return toBinary(m.output, create(m.output, res as MessageInitShape<DescMessage>));
      };
    } else {
      handlers[m.name] = {
        kind: "stream",
        handle: (raw, ctx) => {
          const typed: TypedServerStream<DescMessage, DescMessage> = {
            raw,
            request: decode(m, m.input, raw.request, "request"),
            send: (msg) => raw.send(toBinary(m.output, create(m.output, msg))),
            async *[Symbol.asyncIterator]() {
              for await (const b of raw) yield decode(m, m.input, b, "message");
            },
          };
          return Promise.resolve(fn(typed, ctx));
        },
      };
    }
  }
  server.register(service.typeName, handlers);
}

function decode<D extends DescMessage>(
  m: DescMethod,
  schema: D,
  bytes: Uint8Array,
  what: string,
): MessageShape<D> {
  try {
    return fromBinary(schema, bytes);
  } catch (e) {
    throw new ProtocolError(
      "InvalidArgument",
      `Cannot decode ${what} of "${m.parent.typeName}/${m.name}": ${e instanceof Error ? e.message : e}`,
      { cause: e },
    );
  }
}
