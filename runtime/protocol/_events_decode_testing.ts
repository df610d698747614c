/**
 * The decoding direction of events.ts, which only tests need (the daemon only sends events): a
 * `ForwardRequest` back into a domain event, checked against containerd's own encoding.
 *
 * @module
 */
import { fromBinary } from "@bufbuild/protobuf";
import type { DescMessage, MessageShape } from "@bufbuild/protobuf";
import { type Any, type Timestamp, timestampDate } from "@bufbuild/protobuf/wkt";
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
import { ForwardRequestSchema } from "./gen/containerd/services/events/ttrpc/v1/events_pb.ts";
import { type TaskEvent, taskEventTopic } from "./events.ts";

/** An event with its envelope's namespace and time. */
export interface ForwardedEvent {
  readonly namespace: string;
  /** When the event happened; must not be the zero time. */
  readonly timestamp: Date;
  readonly event: TaskEvent;
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
  if (taskEventTopic(event) !== envelope.topic) {
    throw new RuntimeError(
      "InvalidArgument",
      `Cannot decode event "${envelope.topic}": payload "${envelope.event.typeUrl}" belongs to "${
        taskEventTopic(event)
      }"`,
    );
  }
  return { namespace: envelope.namespace, timestamp: dateOf(envelope.timestamp), event };
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
