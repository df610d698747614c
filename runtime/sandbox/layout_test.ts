import assert from "node:assert/strict";
import { sandboxDir, vmStateDir } from "./layout.ts";
import { sandboxId } from "../ids.ts";

Deno.test({
  name: "sandboxDir() keeps short ids and shortens 64-character ids so VM socket paths fit",
  permissions: "none",
  fn() {
    assert.equal(sandboxDir("/run/cocoon", sandboxId("pod1")), "/run/cocoon/sandboxes/pod1");
    const long = sandboxId("a".repeat(64));
    const dir = sandboxDir("/run/containerd/runc/k8s.io", long);
    assert.match(dir, /^\/run\/containerd\/runc\/k8s\.io\/sandboxes\/a{12}-[0-9a-f]{16}$/);
    assert.ok(`${vmStateDir(dir)}/agent.sock`.length <= 107);
    assert.notEqual(dir, sandboxDir("/run/containerd/runc/k8s.io", sandboxId("a".repeat(63) + "b")));
  },
});
