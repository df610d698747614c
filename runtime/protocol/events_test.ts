import assert from "node:assert/strict";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { RuntimeError } from "../errors.ts";
import { encodeForwardRequest, type TaskEvent, taskEventToAny, taskEventTopic } from "./events.ts";
import { decodeForwardRequest, taskEventFromAny } from "./_events_decode_testing.ts";
import { ForwardRequestSchema } from "./gen/containerd/services/events/ttrpc/v1/events_pb.ts";
import { TaskExitSchema } from "./gen/containerd/events/task_pb.ts";

const at = new Date("2026-11-23T06:30:00.250Z");
const exitedAt = new Date("2026-11-23T06:29:59.500Z");

const samples: readonly TaskEvent[] = [
  {
    kind: "create",
    containerId: "c1",
    bundle: "/run/b/c1",
    rootfs: [{ type: "overlay", source: "overlay", options: ["lowerdir=/a", "upperdir=/b", "workdir=/c"] }],
    io: { stdin: "", stdout: "/f/out", stderr: "/f/err", terminal: false },
    pid: 10,
  },
  { kind: "start", containerId: "c1", pid: 10 },
  { kind: "exit", containerId: "c1", id: "c1", pid: 10, exitStatus: 3, exitedAt },
  { kind: "delete", containerId: "c1", id: "", pid: 10, exitStatus: 3, exitedAt },
  { kind: "exec-added", containerId: "c1", execId: "e1" },
  { kind: "exec-started", containerId: "c1", execId: "e1", pid: 11 },
  { kind: "oom", containerId: "c1" },
  { kind: "paused", containerId: "c1" },
  { kind: "resumed", containerId: "c1" },
  { kind: "checkpointed", containerId: "c1", checkpoint: "/cp" },
];

Deno.test({
  name: "taskEventTopic() returns the upstream topic for every kind",
  permissions: "none",
  fn() {
    assert.deepEqual(samples.map(taskEventTopic), [
      "/tasks/create",
      "/tasks/start",
      "/tasks/exit",
      "/tasks/delete",
      "/tasks/exec-added",
      "/tasks/exec-started",
      "/tasks/oom",
      "/tasks/paused",
      "/tasks/resumed",
      "/tasks/checkpointed",
    ]);
  },
});

Deno.test({
  name: "encodeForwardRequest() and decodeForwardRequest() round-trip every task event",
  permissions: "none",
  fn() {
    for (const event of samples) {
      const bytes = encodeForwardRequest(event, { namespace: "default", timestamp: at });
      const back = decodeForwardRequest(bytes);
      assert.equal(back.namespace, "default");
      assert.equal(back.timestamp.getTime(), at.getTime());
      assert.deepEqual(back.event, event);
    }
  },
});

Deno.test({
  name:
    "encodeForwardRequest() builds Envelope{timestamp, namespace, topic, Any(containerd.events.TaskExit)}",
  permissions: "none",
  fn() {
    const bytes = encodeForwardRequest(
      { kind: "exit", containerId: "c9", id: "c9", pid: 77, exitStatus: 137, exitedAt },
      { namespace: "k8s.io", timestamp: at },
    );
    const env = fromBinary(ForwardRequestSchema, bytes).envelope;
    assert.ok(env?.event);
    assert.equal(env.topic, "/tasks/exit");
    assert.equal(env.namespace, "k8s.io");
    assert.equal(env.timestamp?.seconds, BigInt(Math.floor(at.getTime() / 1000)));
    assert.equal(env.timestamp?.nanos, 250_000_000);
    assert.equal(env.event.typeUrl, "containerd.events.TaskExit");
    const exit = fromBinary(TaskExitSchema, env.event.value);
    assert.equal(exit.containerId, "c9");
    assert.equal(exit.exitStatus, 137);
    // TaskExit bytes: 0a 02 "c9" 12 02 "c9" 18 4d 20 89 01 2a ...
    assert.deepEqual(
      Array.from(env.event.value.subarray(0, 14)),
      [0x0a, 0x02, 0x63, 0x39, 0x12, 0x02, 0x63, 0x39, 0x18, 0x4d, 0x20, 0x89, 0x01, 0x2a],
    );
  },
});

Deno.test({
  name: "encodeForwardRequest() refuses an empty namespace or a zero timestamp",
  permissions: "none",
  fn() {
    const ev: TaskEvent = { kind: "oom", containerId: "c1" };
    assert.throws(
      () => encodeForwardRequest(ev, { namespace: "" }),
      (e) => e instanceof RuntimeError && e.code === "InvalidArgument",
    );
    assert.throws(
      () => encodeForwardRequest(ev, { namespace: "default", timestamp: new Date(0) }),
      /timestamp is not set/,
    );
  },
});

Deno.test({
  name:
    "decodeForwardRequest() rejects garbage, a missing envelope and a topic that does not match the payload",
  permissions: "none",
  fn() {
    assert.throws(
      () => decodeForwardRequest(new Uint8Array([0xff, 0xff, 0xff])),
      /Cannot decode ForwardRequest/,
    );
    assert.throws(() => decodeForwardRequest(new Uint8Array(0)), /no envelope/);
    const wrong = toBinary(
      ForwardRequestSchema,
      create(ForwardRequestSchema, {
        envelope: {
          timestamp: { seconds: 1n },
          namespace: "default",
          topic: "/tasks/start",
          event: taskEventToAny({ kind: "oom", containerId: "c1" }),
        },
      }),
    );
    assert.throws(() => decodeForwardRequest(wrong), /belongs to "\/tasks\/oom"/);
  },
});

Deno.test({
  name:
    "taskEventFromAny() accepts prefixed type URLs, maps a missing exited_at to Go's zero time, rejects others",
  permissions: "none",
  fn() {
    const any = taskEventToAny({ kind: "start", containerId: "c1", pid: 5 });
    assert.deepEqual(
      taskEventFromAny({ ...any, typeUrl: "type.googleapis.com/containerd.events.TaskStart" }),
      {
        kind: "start",
        containerId: "c1",
        pid: 5,
      },
    );
    const bare = taskEventFromAny({
      ...any,
      typeUrl: "containerd.events.TaskExit",
      value: toBinary(TaskExitSchema, create(TaskExitSchema, { containerId: "c1", id: "c1" })),
    });
    assert.equal(bare.kind, "exit");
    assert.equal(bare.kind === "exit" ? bare.exitedAt.toISOString() : "", "0001-01-01T00:00:00.000Z");
    assert.throws(
      () => taskEventFromAny({ ...any, typeUrl: "containerd.events.ImageCreate" }),
      /not a task event/,
    );
  },
});
