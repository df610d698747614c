/**
 * Translation between Cocoon's task events (plain domain objects) and containerd's event wire
 * format: `containerd.events.Task*` messages packed in an `Any` with a bare type URL, inside a
 * `containerd.services.events.ttrpc.v1.Envelope`, inside the `ForwardRequest` a shim sends to
 * `containerd.services.events.ttrpc.v1.Events/Forward` on containerd's ttRPC socket.
 *
 * Generated protobuf types stay inside this module: callers hand in a {@link TaskEvent} and get
 * bytes back. (The reverse, which only tests need, is _events_decode_testing.ts.)
 *
 * @module
 */
import { create, toBinary } from "@bufbuild/protobuf";
import type { DescMessage, MessageInitShape } from "@bufbuild/protobuf";
import { type Any, AnySchema, timestampFromDate } from "@bufbuild/protobuf/wkt";
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

function pack<Desc extends DescMessage>(
  typeUrl: string,
  schema: Desc,
  init: MessageInitShape<Desc>,
): Any {
  return create(AnySchema, { typeUrl, value: toBinary(schema, create(schema, init)) });
}
