import assert from "node:assert/strict";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  ConnectResponseSchema,
  DeleteResponseSchema,
} from "../../runtime/protocol/gen/containerd/task/v2/shim_pb.ts";
import { ResponseSchema } from "../../runtime/protocol/gen/ttrpc/request_pb.ts";

const hex = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(" ");
const unhex = (s: string): Uint8Array => new Uint8Array(s.split(" ").map((x) => parseInt(x, 16)));

Deno.test({
  name: "ConnectResponse{shim_pid=3371, task_pid=3398} encodes to the bytes containerd sent",
  permissions: "none",
  fn() {
    const msg = create(ConnectResponseSchema, { shimPid: 3371, taskPid: 3398 });
    assert.equal(hex(toBinary(ConnectResponseSchema, msg)), "08 ab 1a 10 c6 1a");
    const back = fromBinary(ConnectResponseSchema, unhex("08 ab 1a 10 c6 1a"));
    assert.equal(back.shimPid, 3371);
    assert.equal(back.taskPid, 3398);
    assert.equal(back.version, "");
  },
});

Deno.test({
  name: "ttrpc Response payloads match the observed Connect and error frames",
  permissions: "none",
  fn() {
    const ok = create(ResponseSchema, {
      payload: toBinary(
        ConnectResponseSchema,
        create(ConnectResponseSchema, { shimPid: 3371, taskPid: 3398 }),
      ),
    });
    assert.equal(hex(toBinary(ResponseSchema, ok)), "12 06 08 ab 1a 10 c6 1a");
    const msg = "container not created: not found";
    const err = create(ResponseSchema, { status: { code: 5, message: msg } });
    const expected = [0x0a, 0x24, 0x08, 0x05, 0x12, 0x20, ...new TextEncoder().encode(msg)];
    assert.deepEqual(Array.from(toBinary(ResponseSchema, err)), expected);
  },
});

Deno.test({
  name: "DeleteResponse{exit_status=137} starts with the bytes the probe shim printed",
  permissions: "none",
  fn() {
    const msg = create(DeleteResponseSchema, { exitStatus: 137, exitedAt: { seconds: 1n, nanos: 2 } });
    assert.equal(hex(toBinary(DeleteResponseSchema, msg)), "10 89 01 1a 04 08 01 10 02");
  },
});
