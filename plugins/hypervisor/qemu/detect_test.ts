import assert from "node:assert/strict";
import { detectAccelerator, type DetectProbe, resolveAccelerator } from "./detect.ts";

function probe(files: string[], kvmOpen = ""): DetectProbe {
  return {
    exists: (p) => Promise.resolve(files.includes(p)),
    openRw: () => Promise.resolve(kvmOpen),
  };
}

Deno.test({
  name: "detectAccelerator() picks TCG on a PVM host even though /dev/kvm opens",
  permissions: "none",
  async fn() {
    const c = await detectAccelerator(probe(["/sys/module/kvm_pvm", "/sys/module/kvm", "/dev/kvm"]));
    assert.equal(c.accel, "tcg");
    assert.equal(c.pvm, true);
    assert.match(c.reason, /PVM/);
  },
});

Deno.test({
  name: "detectAccelerator() picks KVM with kvm_intel or kvm_amd and a usable /dev/kvm, else TCG",
  permissions: "none",
  async fn() {
    assert.equal((await detectAccelerator(probe(["/sys/module/kvm_intel"]))).accel, "kvm");
    assert.equal((await detectAccelerator(probe(["/sys/module/kvm_amd"]))).accel, "kvm");
    const denied = await detectAccelerator(probe(["/sys/module/kvm_amd"], "PermissionDenied: EACCES"));
    assert.equal(denied.accel, "tcg");
    assert.match(denied.reason, /does not open read-write \(PermissionDenied/);
    assert.equal((await detectAccelerator(probe([]))).accel, "tcg");
  },
});

Deno.test({
  name: "resolveAccelerator() takes an explicit choice as given",
  permissions: "none",
  async fn() {
    assert.equal((await resolveAccelerator("kvm", probe(["/sys/module/kvm_pvm"]))).accel, "kvm");
  },
});

Deno.test({
  name: "detectAccelerator() on this host answers with the manifest's permissions",
  permissions: { read: ["/sys/module", "/dev/kvm"], write: ["/dev/kvm"] },
  async fn() {
    const c = await detectAccelerator();
    assert.ok(c.accel === "kvm" || c.accel === "tcg");
    assert.doesNotMatch(c.reason, /NotCapable|Requires/);
    if (c.pvm) assert.equal(c.accel, "tcg");
  },
});
