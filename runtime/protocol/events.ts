/**
 * Translation between Cocoon's task events (plain domain objects) and containerd's event wire
 * format: `containerd.events.Task*` messages packed in an `Any` with a bare type URL, inside a
 * `containerd.services.events.ttrpc.v1.Envelope`, inside the `ForwardRequest` a shim sends to
 * `containerd.services.events.ttrpc.v1.Events/Forward` on containerd's ttRPC socket.
 *
 * Generated protobuf types stay inside this module: callers hand in a {@link TaskEvent} and get
 * bytes back (or the reverse).
 *
 * @module
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { DescMessage, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import {
  type Any,
  AnySchema,
  type Timestamp,
  timestampDate,
  timestampFromDate,
} from "@bufbuild/protobuf/wkt";
import { RuntimeError } from "../errors.ts";
import {
  TaskCheckpointedSchema,
  TaskCreateSchema,
  TaskDeleteSchema,
  TaskExecAddedSchema,
  TaskExecStartedSchema,
  TaskExitSchema,
  TaskOOMSchema,
  TaskPausedSchema,
  TaskResumedSchema,
  TaskStartSchema,
} from "./gen/containerd/events/task_pb.ts";
import { EnvelopeSchema, ForwardRequestSchema } from "./gen/containerd/services/events/ttrpc/v1/events_pb.ts";

/** ttRPC service that receives forwarded events on containerd's `<socket>.ttrpc`. */
export const EVENTS_SERVICE = "containerd.services.events.ttrpc.v1.Events";
/** Method of {@link EVENTS_SERVICE}; its response is `google.protobuf.Empty`. */
export const EVENTS_FORWARD_METHOD = "Forward";
/** ttRPC metadata key containerd reads the namespace from (optional on Forward). */
export const NAMESPACE_METADATA_KEY = "containerd-namespace-ttrpc";

/** A rootfs mount as reported in `/tasks/create`. */
export interface TaskMount {
  readonly type: string;
  readonly source: string;
  readonly target?: string;
  readonly options: readonly string[];
}

/** Stdio wiring as reported in `/tasks/create`. */
export interface TaskIo {
  readonly stdin: string;
  readonly stdout: string;
  readonly stderr: string;
  readonly terminal: boolean;
}

/** A task event; `kind` is the topic without its `/tasks/` prefix. */
export type TaskEvent =
  | {
    readonly kind: "create";
    readonly containerId: string;
    readonly bundle: string;
    readonly rootfs: readonly TaskMount[];
    readonly io: TaskIo;
    readonly checkpoint?: string;
    readonly pid: number;
  }
  | { readonly kind: "start"; readonly containerId: string; readonly pid: number }
  | {
    readonly kind: "exit";
    readonly containerId: string;
    /** The exec id, or the container id for the init process. */
    readonly id: string;
    readonly pid: number;
    readonly exitStatus: number;
    readonly exitedAt: Date;
  }
  | {
    readonly kind: "delete";
    readonly containerId: string;
    /** The exec id; "" for the init process. */
    readonly id: string;
    readonly pid: number;
    readonly exitStatus: number;
    readonly exitedAt: Date;
  }
  | { readonly kind: "exec-added"; readonly containerId: string; readonly execId: string }
  | {
    readonly kind: "exec-started";
    readonly containerId: string;
    readonly execId: string;
    readonly pid: number;
  }
  | { readonly kind: "oom"; readonly containerId: string }
  | { readonly kind: "paused"; readonly containerId: string }
  | { readonly kind: "resumed"; readonly containerId: string }
  | { readonly kind: "checkpointed"; readonly containerId: string; readonly checkpoint: string };

/** Event kinds, in the order containerd's README lists their topics. */
export type TaskEventKind = TaskEvent["kind"];

/** Upstream topic of each event kind. */
const TASK_TOPICS: { readonly [K in TaskEventKind]: `/tasks/${K}` } = {
  "create": "/tasks/create",
  "start": "/tasks/start",
  "exit": "/tasks/exit",
  "delete": "/tasks/delete",
  "exec-added": "/tasks/exec-added",
  "exec-started": "/tasks/exec-started",
  "oom": "/tasks/oom",
  "paused": "/tasks/paused",
  "resumed": "/tasks/resumed",
  "checkpointed": "/tasks/checkpointed",
};

/** The full protobuf name used as `Any.type_url` for each event kind (bare, as containerd expects). */
const TASK_EVENT_TYPE_URLS: { readonly [K in TaskEventKind]: string } = {
  "create": TaskCreateSchema.typeName,
  "start": TaskStartSchema.typeName,
  "exit": TaskExitSchema.typeName,
  "delete": TaskDeleteSchema.typeName,
  "exec-added": TaskExecAddedSchema.typeName,
  "exec-started": TaskExecStartedSchema.typeName,
  "oom": TaskOOMSchema.typeName,
  "paused": TaskPausedSchema.typeName,
  "resumed": TaskResumedSchema.typeName,
  "checkpointed": TaskCheckpointedSchema.typeName,
};

/** An event with the envelope fields containerd needs. */
export interface ForwardedEvent {
  readonly namespace: string;
  /** When the event happened; must not be the zero time. */
  readonly timestamp: Date;
  readonly event: TaskEvent;
}

/** Options of {@link encodeForwardRequest}. */
export interface EncodeForwardOptions {
  /** containerd namespace, e.g. "default" or "k8s.io". */
  readonly namespace: string;
  /** Envelope time; defaults to now. */
  readonly timestamp?: Date;
}

/** The upstream topic of an event, e.g. "/tasks/exit". */
export function taskEventTopic(event: TaskEvent): string {
  return TASK_TOPICS[event.kind];
}

/**
 * Encodes `ForwardRequest{envelope{timestamp, namespace, topic, event: Any(containerd.events.*)}}`,
 * the request payload of `Events/Forward`.
 */
export function encodeForwardRequest(event: TaskEvent, opts: EncodeForwardOptions): Uint8Array {
  if (opts.namespace === "") {
    throw new RuntimeError(
      "InvalidArgument",
      `Cannot forward event "${taskEventTopic(event)}": namespace is empty`,
    );
  }
  const at = opts.timestamp ?? new Date();
  if (Number.isNaN(at.getTime()) || at.getTime() === 0) {
    throw new RuntimeError(
      "InvalidArgument",
      `Cannot forward event "${taskEventTopic(event)}": timestamp is not set`,
    );
  }
  const envelope = create(EnvelopeSchema, {
    timestamp: timestampFromDate(at),
    namespace: opts.namespace,
    topic: taskEventTopic(event),
    event: taskEventToAny(event),
  });
  return toBinary(ForwardRequestSchema, create(ForwardRequestSchema, { envelope }));
}

/**
 * Decodes a `ForwardRequest` payload back into a domain event (for a Forward server, a proxy of
 * guest events, or tests). Throws `RuntimeError("InvalidArgument")` for malformed input.
 */
export function decodeForwardRequest(bytes: Uint8Array): ForwardedEvent {
  let envelope;
  try {
    envelope = fromBinary(ForwardRequestSchema, bytes).envelope;
  } catch (cause) {
    throw new RuntimeError("InvalidArgument", `Cannot decode ForwardRequest: ${String(cause)}`, { cause });
  }
  if (envelope === undefined) {
    throw new RuntimeError("InvalidArgument", "Cannot decode ForwardRequest: no envelope");
  }
  if (envelope.event === undefined) {
    throw new RuntimeError("InvalidArgument", `Cannot decode event "${envelope.topic}": no payload`);
  }
  const event = taskEventFromAny(envelope.event);
  if (TASK_TOPICS[event.kind] !== envelope.topic) {
    throw new RuntimeError(
      "InvalidArgument",
      `Cannot decode event "${envelope.topic}": payload "${envelope.event.typeUrl}" belongs to "${
        TASK_TOPICS[event.kind]
      }"`,
    );
  }
  return { namespace: envelope.namespace, timestamp: dateOf(envelope.timestamp), event };
}

/** Packs a domain event as `Any{type_url: "containerd.events.<Name>", value}`. */
export function taskEventToAny(event: TaskEvent): Any {
  const typeUrl = TASK_EVENT_TYPE_URLS[event.kind];
  switch (event.kind) {
    case "create":
      return pack(typeUrl, TaskCreateSchema, {
        containerId: event.containerId,
        bundle: event.bundle,
        rootfs: event.rootfs.map((m) => ({
          type: m.type,
          source: m.source,
          target: m.target ?? "",
          options: [...m.options],
        })),
        io: { ...event.io },
        checkpoint: event.checkpoint ?? "",
        pid: event.pid,
      });
    case "start":
      return pack(typeUrl, TaskStartSchema, { containerId: event.containerId, pid: event.pid });
    case "exit":
      return pack(typeUrl, TaskExitSchema, {
        containerId: event.containerId,
        id: event.id,
        pid: event.pid,
        exitStatus: event.exitStatus,
        exitedAt: timestampFromDate(event.exitedAt),
      });
    case "delete":
      return pack(typeUrl, TaskDeleteSchema, {
        containerId: event.containerId,
        id: event.id,
        pid: event.pid,
        exitStatus: event.exitStatus,
        exitedAt: timestampFromDate(event.exitedAt),
      });
    case "exec-added":
      return pack(typeUrl, TaskExecAddedSchema, { containerId: event.containerId, execId: event.execId });
    case "exec-started":
      return pack(typeUrl, TaskExecStartedSchema, {
        containerId: event.containerId,
        execId: event.execId,
        pid: event.pid,
      });
    case "oom":
      return pack(typeUrl, TaskOOMSchema, { containerId: event.containerId });
    case "paused":
      return pack(typeUrl, TaskPausedSchema, { containerId: event.containerId });
    case "resumed":
      return pack(typeUrl, TaskResumedSchema, { containerId: event.containerId });
    case "checkpointed":
      return pack(typeUrl, TaskCheckpointedSchema, {
        containerId: event.containerId,
        checkpoint: event.checkpoint,
      });
  }
}

/** Unpacks an `Any` holding a `containerd.events.Task*` message (bare or prefixed type URL). */
export function taskEventFromAny(any: Any): TaskEvent {
  const name = any.typeUrl.slice(any.typeUrl.lastIndexOf("/") + 1);
  switch (name) {
    case TaskCreateSchema.typeName: {
      const m = unpack(any, TaskCreateSchema);
      const io = m.io ?? { stdin: "", stdout: "", stderr: "", terminal: false };
      return {
        kind: "create",
        containerId: m.containerId,
        bundle: m.bundle,
        rootfs: m.rootfs.map((r) => ({
          type: r.type,
          source: r.source,
          ...(r.target === "" ? {} : { target: r.target }),
          options: [...r.options],
        })),
        io: { stdin: io.stdin, stdout: io.stdout, stderr: io.stderr, terminal: io.terminal },
        ...(m.checkpoint === "" ? {} : { checkpoint: m.checkpoint }),
        pid: m.pid,
      };
    }
    case TaskStartSchema.typeName: {
      const m = unpack(any, TaskStartSchema);
      return { kind: "start", containerId: m.containerId, pid: m.pid };
    }
    case TaskExitSchema.typeName: {
      const m = unpack(any, TaskExitSchema);
      return {
        kind: "exit",
        containerId: m.containerId,
        id: m.id,
        pid: m.pid,
        exitStatus: m.exitStatus,
        exitedAt: dateOf(m.exitedAt),
      };
    }
    case TaskDeleteSchema.typeName: {
      const m = unpack(any, TaskDeleteSchema);
      return {
        kind: "delete",
        containerId: m.containerId,
        id: m.id,
        pid: m.pid,
        exitStatus: m.exitStatus,
        exitedAt: dateOf(m.exitedAt),
      };
    }
    case TaskExecAddedSchema.typeName: {
      const m = unpack(any, TaskExecAddedSchema);
      return { kind: "exec-added", containerId: m.containerId, execId: m.execId };
    }
    case TaskExecStartedSchema.typeName: {
      const m = unpack(any, TaskExecStartedSchema);
      return { kind: "exec-started", containerId: m.containerId, execId: m.execId, pid: m.pid };
    }
    case TaskOOMSchema.typeName:
      return { kind: "oom", containerId: unpack(any, TaskOOMSchema).containerId };
    case TaskPausedSchema.typeName:
      return { kind: "paused", containerId: unpack(any, TaskPausedSchema).containerId };
    case TaskResumedSchema.typeName:
      return { kind: "resumed", containerId: unpack(any, TaskResumedSchema).containerId };
    case TaskCheckpointedSchema.typeName: {
      const m = unpack(any, TaskCheckpointedSchema);
      return { kind: "checkpointed", containerId: m.containerId, checkpoint: m.checkpoint };
    }
    default:
      throw new RuntimeError(
        "InvalidArgument",
        `Cannot decode event payload "${any.typeUrl}": not a task event`,
      );
  }
}

/** Go's zero time (0001-01-01T00:00:00Z), which containerd 1.6 sends for unset times. */
const GO_ZERO_TIME_SECONDS = -62135596800n;

function dateOf(ts: Timestamp | undefined): Date {
  if (ts === undefined) return new Date(Number(GO_ZERO_TIME_SECONDS) * 1000);
  return timestampDate(ts);
}

function pack<Desc extends DescMessage>(
  typeUrl: string,
  schema: Desc,
  init: MessageInitShape<Desc>,
): Any {
  return create(AnySchema, { typeUrl, value: toBinary(schema, create(schema, init)) });
}

function unpack<Desc extends DescMessage>(any: Any, schema: Desc): MessageShape<Desc> {
  try {
    return fromBinary(schema, any.value);
  } catch (cause) {
    throw new RuntimeError(
      "InvalidArgument",
      `Cannot decode event payload "${any.typeUrl}": ${String(cause)}`,
      {
        cause,
      },
    );
  }
}
