import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { AnySchema } from "@bufbuild/protobuf/wkt";
import { BinaryWriter } from "@bufbuild/protobuf/wire";
import { isRuntimeError } from "../errors.ts";
import { podAnnotations } from "./pod_config.ts";

/** A PodSandboxConfig with metadata (1), hostname (2), labels (6) and annotations (7). */
function podSandboxConfig(annotations: Record<string, string>): Uint8Array {
  const w = new BinaryWriter();
  w.tag(1, 2).bytes(new BinaryWriter().tag(1, 2).string("web").finish());
  w.tag(2, 2).string("web");
  w.tag(6, 2).bytes(new BinaryWriter().tag(1, 2).string("app").tag(2, 2).string("x").finish());
  for (const [k, v] of Object.entries(annotations)) {
    w.tag(7, 2).bytes(new BinaryWriter().tag(1, 2).string(k).tag(2, 2).string(v).finish());
  }
  return w.finish();
}

Deno.test({
  name: "podAnnotations() reads the annotations of a PodSandboxConfig and nothing else",
  permissions: "none",
  fn() {
    const value = podSandboxConfig({ "io.cocoon.config.hypervisor.default_memory": "256", "a": "" });
    const any = create(AnySchema, { typeUrl: "type.googleapis.com/runtime.v1.PodSandboxConfig", value });
    assert.deepEqual(podAnnotations(any), { "io.cocoon.config.hypervisor.default_memory": "256", "a": "" });
  },
});

Deno.test({
  name: "podAnnotations() is empty for no options and for other message types",
  permissions: "none",
  fn() {
    assert.deepEqual(podAnnotations(undefined), {});
    const value = podSandboxConfig({ k: "v" });
    assert.deepEqual(
      podAnnotations(create(AnySchema, { typeUrl: "type.googleapis.com/x.Other", value })),
      {},
    );
  },
});

Deno.test({
  name: "podAnnotations() throws InvalidArgument when a PodSandboxConfig does not decode",
  permissions: "none",
  fn() {
    const any = create(AnySchema, {
      typeUrl: "runtime.v1.PodSandboxConfig",
      value: Uint8Array.of(0x3a, 0x10, 0x0a),
    });
    assert.throws(
      () => podAnnotations(any),
      (e) =>
        isRuntimeError(e) && e.code === "InvalidArgument" && /runtime\.v1\.PodSandboxConfig/.test(e.message),
    );
  },
});
