/**
 * compile.sh: without denort it falls back to bundle mode and says so, and the launchers work
 * (including the shim name dispatch); with DENORT_BIN it takes the deno compile path.
 */
import assert from "node:assert/strict";
import { repoRoot } from "../utils/cli.ts";

async function sh(
  cmd: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; out: string }> {
  const o = await new Deno.Command(cmd, { args, env, cwd: repoRoot, stdout: "piped", stderr: "piped" })
    .output();
  const dec = new TextDecoder();
  return { code: o.code, out: dec.decode(o.stdout) + dec.decode(o.stderr) };
}

Deno.test("compile.sh without denort bundles, says so, and its launchers run as cocoon and as the shim", async () => {
  const out = await Deno.makeTempDir({ prefix: "cocoon-compile-" });
  try {
    const env = { DENORT_BIN: "" };
    const r = await sh("bash", ["compile.sh", "--out", out], env);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /mode bundle \(no denort/);
    assert.equal((await Deno.readTextFile(`${out}/MODE`)).trim(), "bundle");
    const launcher = await Deno.readTextFile(`${out}/cocoon`);
    // runtime/permissions.ts: Deno serves /proc/<pid> and mountinfo only to --allow-all.
    assert.match(launcher, /--allow-all/);
    assert.match(launcher, /COCOON_SELF=/, "the holder and daemon are re-executed through the launcher");
    const v = await sh(`${out}/cocoon`, ["--version"]);
    assert.equal(v.code, 0, v.out);
    assert.match(v.out, /^cocoon version /);
    const shim = await sh(`${out}/containerd-shim-cocoon-v2`, ["--version"]);
    assert.notEqual(shim.out, v.out, "the shim name must dispatch to the shim entry");
    if (await Deno.stat(`${repoRoot}agent/main.ts`).then(() => true, () => false)) {
      assert.ok((await Deno.stat(`${out}/cocoon-agent`)).isFile);
    }
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("compile.sh takes the deno compile path when DENORT_BIN points at a file", async () => {
  const out = await Deno.makeTempDir({ prefix: "cocoon-compile-" });
  try {
    // Any file stands in for denort here: what is checked is the path compile.sh takes.
    const fake = `${out}/denort`;
    await Deno.copyFile(Deno.execPath(), fake);
    const r = await sh("bash", ["compile.sh", "--out", `${out}/dist`], { DENORT_BIN: fake });
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, new RegExp(`mode compile \\(deno compile with denort from DENORT_BIN=${fake}\\)`));
    assert.equal((await Deno.readTextFile(`${out}/dist/MODE`)).trim(), "compile");
    assert.ok((await Deno.stat(`${out}/dist/cocoon`)).size > 1_000_000);
    const missing = await sh("bash", ["compile.sh", "--out", `${out}/dist`], { DENORT_BIN: `${out}/nope` });
    assert.notEqual(missing.code, 0);
    assert.match(missing.out, /DENORT_BIN=".*nope" does not exist/);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});
