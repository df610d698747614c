import assert from "node:assert/strict";
import { join } from "node:path";
import { writeCpio } from "./cpio.ts";

Deno.test({
  name: "writeCpio() writes a newc archive that cpio lists, device nodes included",
  permissions: { read: true, write: true, run: ["cpio"] },
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "cocoon-cpio-" });
    try {
      const root = join(dir, "root");
      await Deno.mkdir(join(root, "bin"), { recursive: true });
      await Deno.writeTextFile(join(root, "init"), "#!/bin/sh\necho hi\n", { mode: 0o755 });
      await Deno.symlink("busybox", join(root, "bin/sh"));
      await Deno.writeTextFile(join(root, "bin/busybox"), "x");
      const out = join(dir, "initrd.cpio");
      const size = await writeCpio(root, out, {
        compress: "none",
        special: [{ kind: "char", path: "dev/console", mode: 0o600, major: 5, minor: 1 }],
      });
      assert.equal(size % 4, 0);
      const listed = await new Deno.Command("cpio", {
        args: ["-itv", "-F", out],
        stdout: "piped",
        stderr: "piped",
      })
        .output();
      const text = new TextDecoder().decode(listed.stdout);
      assert.ok(listed.success, new TextDecoder().decode(listed.stderr));
      assert.match(text, /^-rwxr-xr-x .* init$/m);
      assert.match(text, /^lrwxrwxrwx .* bin\/sh -> busybox$/m);
      assert.match(text, /^crw------- .* 5, +1 .* dev\/console$/m);
      const gz = join(dir, "initrd.gz");
      await writeCpio(root, gz, { compress: "gzip" });
      const head = (await Deno.readFile(gz)).subarray(0, 2);
      assert.deepEqual([...head], [0x1f, 0x8b]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
