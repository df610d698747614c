/**
 * Binds a protobuf-es method descriptor to a typed handler: bytes in → message → handler → message
 * → bytes out. Errors thrown by handlers travel as RuntimeError codes (the ttRPC server maps them).
 *
 * @module
 */
import {
  create,
  type DescMessage,
  fromBinary,
  type MessageInitShape,
  type MessageShape,
  toBinary,
} from "@bufbuild/protobuf";
import { AgentError } from "../../runtime/errors.ts";
import type { CallContext, UnaryHandler } from "../../runtime/protocol/ttrpc/server.ts";

/** The part of a generated unary method descriptor used here. */
export interface UnaryMethodDesc<I extends DescMessage, O extends DescMessage> {
  readonly name: string;
  readonly input: I;
  readonly output: O;
}

/** One `[methodName, handler]` entry for `TtrpcServer.register`. */
export function unary<I extends DescMessage, O extends DescMessage>(
  method: UnaryMethodDesc<I, O>,
  fn: (req: MessageShape<I>, ctx: CallContext) => Promise<MessageInitShape<O>> | MessageInitShape<O>,
): [string, UnaryHandler] {
  return [method.name, async (payload, ctx) => {
    const req = fromBinary(method.input, payload);
    const res = await fn(req, ctx);
    return toBinary(method.output, create(method.output, res));
  }];
}

/** Parses UTF-8 JSON that must be an object (OCI spec, process, resources). */
export function jsonObject(bytes: Uint8Array, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new AgentError("InvalidArgument", `Cannot parse ${what}: not valid JSON`, { cause: e });
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new AgentError("InvalidArgument", `Cannot parse ${what}: expected a JSON object`);
  }
  return Object.fromEntries(Object.entries(v));
}
