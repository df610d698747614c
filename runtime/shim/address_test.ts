import assert from "node:assert/strict";
import { isRuntimeError } from "../errors.ts";
import {
  daemonDir,
  daemonPaths,
  DEFAULT_DAEMON_DIR,
  groupOf,
  sandboxIdOf,
  socketOfAddress,
} from "./address.ts";
import { deleteResponse } from "./delete.ts";
import { fromBinary } from "@bufbuild/protobuf";
import { DeleteResponseSchema } from "../protocol/gen/containerd/task/v2/shim_pb.ts";

Deno.test({
  name: "groupOf() prefers the CRI sandbox id, then the runc group, then the container id",
  permissions: "none",
  fn() {
    assert.equal(
      groupOf("c1", { "io.kubernetes.cri.sandbox-id": "pod1", "io.containerd.runc.v2.group": "g" }),
      "pod1",
    );
    assert.equal(groupOf("c1", { "io.containerd.runc.v2.group": "g" }), "g");
    assert.equal(groupOf("c1", { "io.kubernetes.cri.sandbox-id": "" }), "c1");
  },
});

Deno.test({
  name: "daemonPaths() puts one socket per host in the daemon dir, with a unix:// address",
  permissions: "none",
  fn() {
    const p = daemonPaths(daemonDir(() => "/tmp/d/"));
    assert.equal(p.socket, "/tmp/d/cocoon.sock");
    assert.equal(p.address, "unix:///tmp/d/cocoon.sock");
    assert.equal(socketOfAddress(p.address), p.socket);
    assert.equal(daemonDir(() => undefined), DEFAULT_DAEMON_DIR);
    assert.throws(
      () => daemonPaths(`/${"x".repeat(120)}`),
      (e) => isRuntimeError(e) && e.code === "InvalidArgument",
    );
  },
});

Deno.test({
  name: "deleteResponse() encodes pid, exit status and a real timestamp",
  permissions: "none",
  fn() {
    const at = new Date("2026-01-02T03:04:05.678Z");
    const r = fromBinary(DeleteResponseSchema, deleteResponse(42, 137, at));
    assert.equal(r.pid, 42);
    assert.equal(r.exitStatus, 137);
    assert.equal(r.exitedAt?.seconds, BigInt(Math.floor(at.getTime() / 1000)));
    assert.equal(r.exitedAt?.nanos, 678_000_000);
  },
});

Deno.test({
  name: "sandboxIdOf() keeps short groups and shortens CRI's 64-hex ids stably",
  permissions: "none",
  fn() {
    assert.equal(sandboxIdOf("pod1"), "pod1");
    const cri = "2d36c7eac69586b6d99bc32c45b4c500d87af29c1722fb92f06cfc0f2f0f6b19";
    const id = sandboxIdOf(cri);
    assert.match(id, /^2d36c7eac695-[0-9a-f]{16}$/);
    assert.equal(sandboxIdOf(cri), id);
    assert.notEqual(sandboxIdOf(cri.replace(/9$/, "8")), id);
  },
});
