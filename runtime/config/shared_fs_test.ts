import assert from "node:assert/strict";
import { resolveConfig } from "./resolve.ts";
import { resolveSharedFsAuto, sharedFsForPod } from "./shared_fs.ts";

const base = { hypervisor: { qemu: { kernel: "/k", initrd: "/i" } } };
const meta = { file: "t", dropIns: [] };
const found = () => Promise.resolve({ argv: ["/x/virtiofsd"], version: "1.13.2" });
const missing = () => Promise.resolve(undefined);

Deno.test({
  name: 'resolveSharedFsAuto() picks virtio-fs for "auto" when virtiofsd works, virtio-9p when not',
  permissions: "none",
  async fn() {
    const cfg = resolveConfig(base, meta);
    assert.equal(cfg.hypervisor.sharedFs, "virtio-9p", "pure resolve leaves auto at 9p");
    assert.equal(cfg.hypervisor.sharedFsAuto, "virtiofsd not probed");
    const fast = await resolveSharedFsAuto(cfg, { probe: found });
    assert.equal(fast.hypervisor.sharedFs, "virtio-fs");
    assert.match(fast.hypervisor.sharedFsAuto ?? "", /virtiofsd 1\.13\.2 at "\/x\/virtiofsd"/);
    const slow = await resolveSharedFsAuto(cfg, { probe: missing });
    assert.equal(slow.hypervisor.sharedFs, "virtio-9p");
    assert.equal(slow.hypervisor.sharedFsAuto, "no working virtiofsd found");
  },
});

Deno.test({
  name:
    'resolveSharedFsAuto() keeps virtio-9p for "auto" when VM templates are on, and leaves explicit values',
  permissions: "none",
  async fn() {
    let probed = 0;
    const probe = () => (probed++, found());
    const tpl = resolveConfig({ ...base, factory: { enable_template: true } }, meta);
    const r = await resolveSharedFsAuto(tpl, { probe });
    assert.equal(r.hypervisor.sharedFs, "virtio-9p");
    assert.match(r.hypervisor.sharedFsAuto ?? "", /enable_template/);
    for (const v of ["virtio-9p", "virtio-fs", "none"] as const) {
      const c = resolveConfig({ hypervisor: { qemu: { ...base.hypervisor.qemu, shared_fs: v } } }, meta);
      const out = await resolveSharedFsAuto(c, { probe });
      assert.equal(out.hypervisor.sharedFs, v);
      assert.equal(out.hypervisor.sharedFsAuto, undefined);
    }
    assert.equal(probed, 0);
  },
});

Deno.test({
  name:
    'resolveSharedFsAuto() keeps virtio-9p with the VM cache on; sharedFsForPod() re-decides "auto" per pod',
  permissions: "none",
  async fn() {
    const cached = resolveConfig({ ...base, factory: { vm_cache_number: 2 } }, meta);
    const r = await resolveSharedFsAuto(cached, { probe: found });
    assert.equal(r.hypervisor.sharedFs, "virtio-9p");
    assert.match(r.hypervisor.sharedFsAuto ?? "", /vm_cache_number/);
    // "auto" picked virtio-fs for the host; a pod turning templates on gets 9p.
    const host = await resolveSharedFsAuto(resolveConfig(base, meta), { probe: found });
    assert.equal(host.hypervisor.sharedFs, "virtio-fs");
    assert.equal(sharedFsForPod(host), host);
    const pod = sharedFsForPod({ ...host, factory: { ...host.factory, enableTemplate: true } });
    assert.equal(pod.hypervisor.sharedFs, "virtio-9p");
    assert.match(pod.hypervisor.sharedFsAuto ?? "", /enable_template/);
    // An explicit virtio-fs is left for the factory to refuse.
    const explicit = resolveConfig({
      hypervisor: { qemu: { ...base.hypervisor.qemu, shared_fs: "virtio-fs" } },
    }, meta);
    const t = { ...explicit, factory: { ...explicit.factory, enableTemplate: true } };
    assert.equal(sharedFsForPod(t).hypervisor.sharedFs, "virtio-fs");
  },
});
