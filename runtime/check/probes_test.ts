import assert from "node:assert/strict";
import { resolveConfig } from "../config/resolve.ts";
import { resolveSharedFsAuto } from "../config/shared_fs.ts";
import { probeGuestImage, probeSharedFs } from "./probes.ts";

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

Deno.test("probeGuestImage() names the kernel in use (tuned or Debian's) and how to get the other", async () => {
  const dir = await Deno.makeTempDir();
  try {
    for (const f of ["vmlinuz", "initrd.img"]) await Deno.writeTextFile(`${dir}/${f}`, "x");
    const cfg = resolveConfig(
      { hypervisor: { qemu: { kernel: `${dir}/vmlinuz`, initrd: `${dir}/initrd.img` } } },
      meta,
    );
    const manifest = (flavour: string, release: string) =>
      Deno.writeTextFile(
        `${dir}/manifest.json`,
        JSON.stringify({ kernel: { package: "linux-source-6.12", release, flavour } }),
      );
    await manifest("tuned", "6.12.118-cocoon");
    const tuned = (await probeGuestImage(cfg)).find((c) => c.name === "guest kernel");
    assert.equal(tuned?.status, "ok");
    assert.match(tuned?.detail ?? "", /tuned 6\.12\.118-cocoon .*--kernel debian/);
    await manifest("generic", "6.12.118+deb12-amd64");
    const deb = (await probeGuestImage(cfg)).find((c) => c.name === "guest kernel");
    assert.match(deb?.detail ?? "", /Debian's 6\.12\.118\+deb12-amd64; .*--kernel tuned/);
    await Deno.remove(`${dir}/manifest.json`);
    const bare = (await probeGuestImage(cfg)).find((c) => c.name === "guest kernel");
    assert.equal(bare?.detail, `${dir}/vmlinuz`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
