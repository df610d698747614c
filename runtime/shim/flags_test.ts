import assert from "node:assert/strict";
import { isRuntimeError } from "../errors.ts";
import { parseShimFlags } from "./flags.ts";

Deno.test({
  name: "parseShimFlags() reads containerd 1.6's start argv (-flag value, -debug) and the action",
  permissions: "none",
  fn() {
    const f = parseShimFlags([
      "-namespace",
      "k8s.io",
      "-address",
      "/run/containerd/containerd.sock",
      "-publish-binary",
      "/usr/bin/containerd",
      "-id",
      "c1",
      "-debug",
      "start",
    ]);
    assert.deepEqual(f, {
      namespace: "k8s.io",
      address: "/run/containerd/containerd.sock",
      publishBinary: "/usr/bin/containerd",
      id: "c1",
      bundle: "",
      debug: true,
      version: false,
      action: "start",
    });
  },
});

Deno.test({
  name: "parseShimFlags() accepts --flag=value, -bundle, tolerates unknown flags, reads delete",
  permissions: "none",
  fn() {
    const f = parseShimFlags([
      "--namespace=default",
      "-bundle",
      "/b",
      "--unknown=1",
      "-x",
      "-id=c2",
      "delete",
    ]);
    assert.equal(f.namespace, "default");
    assert.equal(f.bundle, "/b");
    assert.equal(f.id, "c2");
    assert.equal(f.action, "delete");
    assert.equal(parseShimFlags(["-id", "c"]).action, null);
  },
});

Deno.test({
  name: "parseShimFlags() refuses an unknown action and a flag without its value",
  permissions: "none",
  fn() {
    assert.throws(
      () => parseShimFlags(["-id", "c", "serve"]),
      (e) => isRuntimeError(e) && e.code === "InvalidArgument",
    );
    assert.throws(() => parseShimFlags(["-id"]), (e) => isRuntimeError(e) && /needs a value/.test(e.message));
  },
});
