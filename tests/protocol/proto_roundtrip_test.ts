import assert from "node:assert/strict";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { anyIs, AnySchema, anyUnpack, timestampFromDate, TimestampSchema } from "@bufbuild/protobuf/wkt";
import {
  CreateTaskRequestSchema,
  StateResponseSchema,
} from "../../runtime/protocol/gen/containerd/task/v2/shim_pb.ts";
import { Status } from "../../runtime/protocol/gen/containerd/types/task/task_pb.ts";
import { TaskExitSchema } from "../../runtime/protocol/gen/containerd/events/task_pb.ts";
import { ForwardRequestSchema } from "../../runtime/protocol/gen/containerd/services/events/ttrpc/v1/events_pb.ts";
import { CreateContainerRequestSchema } from "../../runtime/protocol/gen/cocoon/agent/v1/agent_pb.ts";
import { IpFamily } from "../../runtime/protocol/gen/cocoon/agent/v1/types_pb.ts";
import { RequestSchema, ResponseSchema } from "../../runtime/protocol/gen/ttrpc/request_pb.ts";
import {
  ControllerStartResponseSchema,
  ControllerStatusRequestSchema,
} from "../../runtime/protocol/gen/containerd/services/sandbox/v1/sandbox_pb.ts";
import { StreamInitSchema } from "../../runtime/protocol/gen/containerd/services/streaming/v1/streaming_pb.ts";
import {
  DataSchema,
  WindowUpdateSchema,
} from "../../runtime/protocol/gen/containerd/types/transfer/streaming_pb.ts";

const hex = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(" ");

Deno.test({
  name: "CreateTaskRequest round-trips with rootfs mounts, stdio and options",
  permissions: "none",
  fn() {
    const req = create(CreateTaskRequestSchema, {
      id: "c1",
      bundle: "/run/containerd/io.containerd.runtime.v2.task/default/c1",
      rootfs: [
        { type: "overlay", source: "overlay", options: ["lowerdir=/l1:/l2", "upperdir=/u", "workdir=/w"] },
        { type: "bind", source: "/data", target: "/mnt", options: ["rbind", "ro"] },
      ],
      terminal: true,
      stdin: "/run/containerd/fifo/1/c1-stdin",
      stdout: "/run/containerd/fifo/1/c1-stdout",
      options: { typeUrl: "runtimeoptions.v1.Options", value: new Uint8Array([0x12, 0x01, 0x78]) },
    });
    const bytes = toBinary(CreateTaskRequestSchema, req);
    // Field 1 (id) comes first: tag 0x0a, length 2, "c1".
    assert.deepEqual(Array.from(bytes.subarray(0, 4)), [0x0a, 0x02, 0x63, 0x31]);
    const back = fromBinary(CreateTaskRequestSchema, bytes);
    assert.equal(back.id, "c1");
    assert.equal(back.rootfs.length, 2);
    assert.deepEqual(back.rootfs[0]?.options, ["lowerdir=/l1:/l2", "upperdir=/u", "workdir=/w"]);
    assert.equal(back.rootfs[1]?.target, "/mnt");
    assert.equal(back.terminal, true);
    assert.equal(back.stderr, "");
    assert.equal(back.options?.typeUrl, "runtimeoptions.v1.Options");
    assert.deepEqual(back.options?.value, new Uint8Array([0x12, 0x01, 0x78]));
  },
});

Deno.test({
  name: "TaskExit packed in an Any inside an Envelope with a Timestamp round-trips",
  permissions: "none",
  fn() {
    const exitedAt = new Date("2026-11-23T06:00:00.123Z");
    const exit = create(TaskExitSchema, {
      containerId: "c1",
      id: "c1",
      pid: 4242,
      exitStatus: 137,
      exitedAt: timestampFromDate(exitedAt),
    });
    const fwd = create(ForwardRequestSchema, {
      envelope: {
        timestamp: { seconds: 1795413600n, nanos: 5 },
        namespace: "default",
        topic: "/tasks/exit",
        event: { typeUrl: TaskExitSchema.typeName, value: toBinary(TaskExitSchema, exit) },
      },
    });
    const back = fromBinary(ForwardRequestSchema, toBinary(ForwardRequestSchema, fwd));
    const env = back.envelope;
    assert.ok(env);
    assert.equal(env.namespace, "default");
    assert.equal(env.topic, "/tasks/exit");
    assert.equal(env.timestamp?.seconds, 1795413600n);
    assert.equal(env.timestamp?.nanos, 5);
    assert.ok(env.event);
    assert.equal(env.event.typeUrl, "containerd.events.TaskExit");
    assert.ok(anyIs(env.event, TaskExitSchema));
    const unpacked = anyUnpack(env.event, TaskExitSchema);
    assert.ok(unpacked);
    assert.equal(unpacked.containerId, "c1");
    assert.equal(unpacked.pid, 4242);
    assert.equal(unpacked.exitStatus, 137);
    assert.equal(unpacked.exitedAt?.seconds, BigInt(Math.floor(exitedAt.getTime() / 1000)));
    assert.equal(unpacked.exitedAt?.nanos, 123_000_000);
  },
});

Deno.test({
  name: "Timestamp with negative seconds (Go zero time) encodes as a 10-byte varint and decodes back",
  permissions: "none",
  fn() {
    const ts = create(TimestampSchema, { seconds: -62135596800n, nanos: 0 });
    const bytes = toBinary(TimestampSchema, ts);
    assert.equal(hex(bytes), "08 80 92 b8 c3 98 fe ff ff ff 01");
    assert.equal(fromBinary(TimestampSchema, bytes).seconds, -62135596800n);
    // The same time inside StateResponse.exited_at (field 10).
    const state = create(StateResponseSchema, { id: "c1", status: Status.STOPPED, exitedAt: ts });
    const back = fromBinary(StateResponseSchema, toBinary(StateResponseSchema, state));
    assert.equal(back.exitedAt?.seconds, -62135596800n);
    assert.equal(back.status, Status.STOPPED);
    // A negative seconds value with nanos also survives.
    const t2 = fromBinary(
      TimestampSchema,
      toBinary(TimestampSchema, create(TimestampSchema, { seconds: -1n, nanos: 1 })),
    );
    assert.equal(t2.seconds, -1n);
    assert.equal(t2.nanos, 1);
  },
});

Deno.test({
  name: "agent CreateContainerRequest round-trips the OCI spec bytes, storages and devices",
  permissions: "none",
  fn() {
    const spec = new TextEncoder().encode(JSON.stringify({ ociVersion: "1.1.0", process: { args: ["sh"] } }));
    const req = create(CreateContainerRequestSchema, {
      containerId: "c1",
      ociSpecJson: spec,
      storages: [{
        driver: "9p",
        driverOptions: ["trans=virtio"],
        source: "rootfs-c1",
        fsType: "9p",
        options: ["msize=524288"],
        mountPoint: "/run/cocoon/c1/rootfs",
      }],
      devices: [{ id: "blk0", kind: "blk", guestPath: "/dev/vdb", containerPath: "/dev/xvda" }],
      stdio: { stdin: true, stdout: true, stderr: true, terminal: false, window: { rows: 24, columns: 80 } },
    });
    const back = fromBinary(CreateContainerRequestSchema, toBinary(CreateContainerRequestSchema, req));
    assert.equal(back.containerId, "c1");
    assert.deepEqual(JSON.parse(new TextDecoder().decode(back.ociSpecJson)), {
      ociVersion: "1.1.0",
      process: { args: ["sh"] },
    });
    assert.equal(back.storages[0]?.mountPoint, "/run/cocoon/c1/rootfs");
    assert.deepEqual(back.storages[0]?.driverOptions, ["trans=virtio"]);
    assert.equal(back.devices[0]?.guestPath, "/dev/vdb");
    assert.equal(back.stdio?.window?.columns, 80);
    assert.equal(IpFamily.V4, 1);
  },
});

Deno.test({
  name: "ttrpc Request and Response envelopes round-trip, and an empty Response decodes as OK",
  permissions: "none",
  fn() {
    const req = create(RequestSchema, {
      service: "containerd.task.v2.Task",
      method: "Connect",
      payload: new Uint8Array([0x0a, 0x02, 0x63, 0x31]),
      timeoutNano: 5_000_000_000n,
      metadata: [{ key: "containerd-namespace-ttrpc", value: "default" }],
    });
    const back = fromBinary(RequestSchema, toBinary(RequestSchema, req));
    assert.equal(back.service, "containerd.task.v2.Task");
    assert.equal(back.timeoutNano, 5_000_000_000n);
    assert.equal(back.metadata[0]?.value, "default");
    const empty = fromBinary(ResponseSchema, new Uint8Array(0));
    assert.equal(empty.status, undefined);
    assert.equal(empty.payload.length, 0);
    const err = fromBinary(
      ResponseSchema,
      toBinary(ResponseSchema, create(ResponseSchema, { status: { code: 5, message: "not found" } })),
    );
    assert.equal(err.status?.code, 5);
    // Any itself: bare type URL kept verbatim.
    const any = fromBinary(
      AnySchema,
      toBinary(AnySchema, create(AnySchema, { typeUrl: "x.Y", value: new Uint8Array([1]) })),
    );
    assert.equal(any.typeUrl, "x.Y");
  },
});

Deno.test({
  name: "Sandbox Controller Start/Status responses and a Streaming StreamInit Any round-trip",
  permissions: "none",
  fn() {
    const start = create(ControllerStartResponseSchema, {
      sandboxId: "sb1",
      pid: 77,
      createdAt: { seconds: 1n },
      labels: { "io.cocoon/vm": "qemu" },
      address: "ttrpc+unix:///run/cocoon/sb1/task.sock",
      version: 2,
    });
    const s = fromBinary(ControllerStartResponseSchema, toBinary(ControllerStartResponseSchema, start));
    assert.equal(s.address, "ttrpc+unix:///run/cocoon/sb1/task.sock");
    assert.equal(s.version, 2);
    assert.deepEqual(s.labels, { "io.cocoon/vm": "qemu" });
    // sandboxer is field 10 on requests: tag (10 << 3 | 2) = 0x52.
    const req = toBinary(
      ControllerStatusRequestSchema,
      create(ControllerStatusRequestSchema, { sandboxer: "cocoon" }),
    );
    assert.deepEqual(Array.from(req.subarray(0, 2)), [0x52, 0x06]);
    const init = create(AnySchema, {
      typeUrl: StreamInitSchema.typeName,
      value: toBinary(StreamInitSchema, create(StreamInitSchema, { id: "c1-stdout" })),
    });
    const back = fromBinary(AnySchema, toBinary(AnySchema, init));
    assert.equal(back.typeUrl, "containerd.services.streaming.v1.StreamInit");
    assert.equal(anyUnpack(back, StreamInitSchema)?.id, "c1-stdout");
    const data = fromBinary(
      DataSchema,
      toBinary(DataSchema, create(DataSchema, { data: new Uint8Array([1, 2]) })),
    );
    assert.deepEqual(Array.from(data.data), [1, 2]);
    assert.equal(WindowUpdateSchema.typeName, "containerd.types.transfer.WindowUpdate");
  },
});
