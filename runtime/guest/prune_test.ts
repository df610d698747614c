import assert from "node:assert/strict";
import { join } from "node:path";
import { pruneGuestImages } from "./prune.ts";

Deno.test({
  name: "pruneGuestImages() removes old images but keeps current, kept and young ones",
  permissions: { read: true, write: true },
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "cocoon-prune-" });
    try {
      const h = (c: string) => c.repeat(64);
      for (const c of ["a", "b", "c", "d"]) await Deno.mkdir(join(root, h(c)));
      await Deno.mkdir(join(root, ".test-agent"));
      await Deno.symlink(h("a"), join(root, "current"));
      const old = new Date(Date.now() - 2 * 3600_000);
      for (const c of ["a", "b", "c"]) await Deno.utime(join(root, h(c)), old, old);
      const removed = await pruneGuestImages({ outDir: root, keep: [h("b")] });
      assert.deepEqual(removed, [join(root, h("c"))]);
      const left = [];
      for await (const e of Deno.readDir(root)) left.push(e.name);
      assert.deepEqual(left.sort(), [".test-agent", "current", h("a"), h("b"), h("d")].sort());
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});
