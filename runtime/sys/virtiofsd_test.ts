import assert from "node:assert/strict";
import { probeVirtiofsd } from "./virtiofsd.ts";

Deno.test({
  name: "probeVirtiofsd() remembers a working virtiofsd until its file changes, and never a failing one",
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "cocoon-vfsd-probe-" });
    try {
      const bin = `${dir}/virtiofsd`;
      const runs = `${dir}/runs`;
      const script = (version: string, code = 0) =>
        `#!/bin/sh\necho x >> ${runs}\necho "virtiofsd ${version}"\nexit ${code}\n`;
      await Deno.writeTextFile(bin, script("1.10.1"), { mode: 0o755 });
      const cache = `${dir}/probe.json`;
      const count = async () => (await Deno.readTextFile(runs).catch(() => "")).split("\n").length - 1;
      assert.deepEqual(await probeVirtiofsd([bin], { cache }), { argv: [bin], version: "1.10.1" });
      assert.deepEqual(await probeVirtiofsd([bin], { cache }), { argv: [bin], version: "1.10.1" });
      assert.equal(await count(), 1, "the second probe comes from the cache");
      // a changed binary (size and mtime) is asked again
      await Deno.writeTextFile(bin, script("1.11.0-longer"), { mode: 0o755 });
      assert.equal((await probeVirtiofsd([bin], { cache }))?.version, "1.11.0-longer");
      assert.equal(await count(), 2);
      // a failing one is never remembered, and a missing one is not run at all
      await Deno.writeTextFile(bin, script("1.12", 1), { mode: 0o755 });
      assert.equal(await probeVirtiofsd([bin], { cache }), undefined);
      assert.equal(await probeVirtiofsd([bin], { cache }), undefined);
      assert.equal(await count(), 4);
      assert.equal(await probeVirtiofsd([`${dir}/none`], { cache }), undefined);
      // a cache that is not JSON is ignored
      await Deno.writeTextFile(cache, "{not json");
      await Deno.writeTextFile(bin, script("1.13"), { mode: 0o755 });
      assert.equal((await probeVirtiofsd([bin], { cache }))?.version, "1.13");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
