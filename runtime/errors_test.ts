import assert from "node:assert/strict";
import { errorCodeOfGrpc, grpcCodeOf, isRuntimeError, RuntimeError, toRuntimeError } from "./errors.ts";

Deno.test({
  name: "grpcCodeOf() and errorCodeOfGrpc() round-trip every code",
  permissions: "none",
  fn() {
    assert.equal(grpcCodeOf("NotFound"), 5);
    assert.equal(grpcCodeOf("ResourceExhausted"), 8);
    assert.equal(grpcCodeOf("Unavailable"), 14);
    for (let n = 1; n <= 16; n++) assert.equal(grpcCodeOf(errorCodeOfGrpc(n)), n);
    assert.equal(errorCodeOfGrpc(99), "Unknown");
  },
});

Deno.test({
  name: "toRuntimeError() maps Deno errors by class and keeps the cause",
  permissions: "none",
  fn() {
    const cause = new Deno.errors.NotFound("no such file");
    const e = toRuntimeError(cause, "Cannot read state");
    assert.equal(e.code, "NotFound");
    assert.equal(e.message, "Cannot read state: no such file");
    assert.ok(e.cause === cause);
    assert.ok(isRuntimeError(new RuntimeError("Internal", "x")));
    assert.ok(!isRuntimeError(new Error("x")));
  },
});
