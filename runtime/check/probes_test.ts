import assert from "node:assert/strict";
import { resolveConfig } from "../config/resolve.ts";
import { resolveSharedFsAuto } from "../config/shared_fs.ts";
import { probeSharedFs } from "./probes.ts";

const meta = { file: "t", dropIns: [] };
const base = { hypervisor: { qemu: { kernel: "/k", initrd: "/i" } } };

Deno.test({
  name: 'probeSharedFs() says what "auto" chose and why; 9p by lack of virtiofsd is a warning with the fix',
  permissions: "none",
  async fn() {
    const cfg = resolveConfig(base, meta);
    const fast = await resolveSharedFsAuto(cfg, {
      probe: () => Promise.resolve({ argv: ["/x/virtiofsd"], version: "1.13.2" }),
    });
    const ok = await probeSharedFs(fast);
    assert.equal(ok.status, "ok");
    assert.match(ok.detail, /^auto: virtio-fs \(virtiofsd 1\.13\.2/);
    const slow = await probeSharedFs(
      await resolveSharedFsAuto(cfg, { probe: () => Promise.resolve(undefined) }),
    );
    assert.equal(slow.status, "warn");
    assert.match(slow.detail, /^auto: virtio-9p \(no working virtiofsd found\)/);
    assert.match(slow.fix ?? "", /runtime\/cli\/install_virtiofsd\.ts/);
    const tpl = resolveConfig({ ...base, factory: { enable_template: true } }, meta);
    const t = await probeSharedFs(await resolveSharedFsAuto(tpl));
    assert.equal(t.status, "ok");
    assert.match(t.detail, /enable_template/);
  },
});
