import assert from "node:assert/strict";
import { isRuntimeError } from "../errors.ts";
import { checkPodConfig, checkPodConfigFile } from "./pod_config.ts";
import { resolveConfig } from "./resolve.ts";

const denied = (re: RegExp) => (e: unknown) =>
  isRuntimeError(e) && e.code === "PermissionDenied" && re.test(e.message);

Deno.test({
  name: "checkPodConfigFile() takes root's files under a trusted directory only",
  ignore: Deno.uid() !== 0,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "cocoon-podcfg-" });
    try {
      await Deno.mkdir(`${dir}/etc/pods`, { recursive: true, mode: 0o755 });
      await Deno.chmod(dir, 0o755);
      const good = `${dir}/etc/pods/a.toml`;
      await Deno.writeTextFile(good, "", { mode: 0o644 });
      assert.equal(await checkPodConfigFile(good, [`${dir}/etc`]), good);
      // a link from elsewhere into the trusted directory is judged by where it leads
      await Deno.symlink(good, `${dir}/link.toml`);
      assert.equal(await checkPodConfigFile(`${dir}/link.toml`, [`${dir}/etc`]), good);
      // outside, or a link out of it
      await Deno.writeTextFile(`${dir}/out.toml`, "", { mode: 0o644 });
      await assert.rejects(checkPodConfigFile(`${dir}/out.toml`, [`${dir}/etc`]), denied(/is not under/));
      await Deno.symlink(`${dir}/out.toml`, `${dir}/etc/pods/escape.toml`);
      await assert.rejects(
        checkPodConfigFile(`${dir}/etc/pods/escape.toml`, [`${dir}/etc`]),
        denied(/is not under/),
      );
      await assert.rejects(
        checkPodConfigFile(`${dir}/etc/pods/../../out.toml`, [`${dir}/etc`]),
        denied(/is not under/),
      );
      // writable by others: the file, or a directory on the way
      await Deno.chmod(good, 0o666);
      await assert.rejects(checkPodConfigFile(good, [`${dir}/etc`]), denied(/writable by root only/));
      await Deno.chmod(good, 0o644);
      await Deno.chmod(`${dir}/etc/pods`, 0o777);
      await assert.rejects(checkPodConfigFile(good, [`${dir}/etc`]), denied(/directory .*pods/));
      await Deno.chmod(`${dir}/etc/pods`, 0o755);
      // not root's
      await Deno.chown(good, 65534, 65534);
      await assert.rejects(checkPodConfigFile(good, [`${dir}/etc`]), denied(/uid 65534/));
      await assert.rejects(
        checkPodConfigFile(`${dir}/etc/none.toml`, [`${dir}/etc`]),
        (e) => isRuntimeError(e) && e.code === "NotFound",
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("checkPodConfig() refuses a pod configuration with a [plugins] table", () => {
  const plain = resolveConfig({ runtime: { state_dir: "/run/x" } }, {
    file: "/etc/cocoon/p.toml",
    dropIns: [],
  });
  assert.equal(checkPodConfig(plain, "/etc/cocoon/p.toml"), plain);
  const withPlugins = resolveConfig(
    { runtime: { state_dir: "/run/x" }, plugins: { paths: { evil: "file:///tmp/evil.ts" } } },
    { file: "/etc/cocoon/p.toml", dropIns: [] },
  );
  assert.throws(() => checkPodConfig(withPlugins, "/etc/cocoon/p.toml"), denied(/may not load plugins/));
});
