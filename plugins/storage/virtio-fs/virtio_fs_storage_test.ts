import assert from "node:assert/strict";
import { isRuntimeError } from "../../../runtime/errors.ts";
import { sandboxId } from "../../../runtime/ids.ts";
import { createLogger, nullSink } from "../../../runtime/log/logger.ts";
import { manifest } from "./manifest.ts";
import plugin from "./mod.ts";
import { parseVirtioFsConfig, VirtioFsStorage } from "./virtio_fs_storage.ts";
import { findVirtiofsd, privateArgv } from "../../../runtime/sys/virtiofsd.ts";

Deno.test({
  name: "parseVirtioFsConfig() fills defaults and refuses unknown keys and bad cache modes",
  permissions: "none",
  fn() {
    assert.deepEqual(parseVirtioFsConfig({}), {
      daemon: "/usr/libexec/virtiofsd",
      cache: "auto",
      extraArgs: [],
    });
    assert.deepEqual(
      parseVirtioFsConfig({ cache: "never", extra_args: ["--thread-pool-size=1"] }).extraArgs,
      [
        "--thread-pool-size=1",
      ],
    );
    assert.throws(() => parseVirtioFsConfig({ cache: "sometimes" }), /storage.virtio-fs.cache/);
    assert.throws(() => parseVirtioFsConfig({ dax: true }), /"storage.virtio-fs.dax": it is unknown/);
  },
});

Deno.test({
  name: "privateArgv() runs the private virtiofsd through its own glibc loader",
  permissions: "none",
  fn() {
    assert.deepEqual(privateArgv("/r"), [
      "/r/prefix/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
      "--library-path",
      "/r/prefix/usr/lib/x86_64-linux-gnu",
      "/r/prefix/usr/libexec/virtiofsd",
    ]);
  },
});

Deno.test({
  name:
    "virtio-fs check() and prepareSandbox() fail naming the binary and the shared_fs alternative when no virtiofsd exists",
  permissions: { ...manifest.permissions },
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "cocoon-vfs-unit-" });
    try {
      const s = await plugin.create({
        log: createLogger({ sink: nullSink }),
        config: { daemon: `${dir}/no-virtiofsd`, install_root: `${dir}/none` },
        runDir: dir,
      });
      assert.ok(s instanceof VirtioFsStorage);
      const expect = (e: unknown) => {
        assert.ok(isRuntimeError(e));
        assert.equal(e.code, "FailedPrecondition");
        assert.match(e.message, new RegExp(`virtiofsd is not found at "${dir}/no-virtiofsd"`));
        assert.match(e.message, /set shared_fs = "virtio-9p"/);
        return true;
      };
      await assert.rejects(s.check(), expect);
      await assert.rejects(s.prepareSandbox({ sandbox: sandboxId("sb"), dir }), expect);
      await assert.rejects(findVirtiofsd("", `${dir}/none`), /nor installed under/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
