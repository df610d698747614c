/**
 * The runc-compatible verbs as subprocesses, on bad input and the verbs that need no VM: each
 * error is worded as runc/podman/containerd expect, exits 1 and leaves nothing behind.
 */
import assert from "node:assert/strict";
import { minimalSpec } from "../../runtime/oci/spec.ts";
import { cocoon } from "../utils/cli.ts";

async function withRoot(fn: (root: string, dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "cocoon-oci-cli-" });
  try {
    await fn(`${dir}/root`, dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function entries(p: string): Promise<string[]> {
  try {
    return (await Array.fromAsync(Deno.readDir(p))).map((e) => e.name).sort();
  } catch {
    return [];
  }
}

async function bundle(dir: string, config: unknown | string): Promise<string> {
  const b = `${dir}/bundle`;
  await Deno.mkdir(`${b}/rootfs`, { recursive: true });
  await Deno.writeTextFile(`${b}/config.json`, typeof config === "string" ? config : JSON.stringify(config));
  return b;
}

Deno.test("cocoon create refuses a malformed config.json with exit 1 and leaves no state", async () => {
  await withRoot(async (root, dir) => {
    const b = await bundle(dir, "{ not json");
    const r = await cocoon(["--root", root, "create", "--bundle", b, "c1"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Invalid OCI spec ".*config\.json": it is not JSON/);
    assert.deepEqual(await entries(`${root}/oci`), []);
    const b2 = await bundle(dir, { ...minimalSpec(["sh"]), process: { args: [], cwd: "/" } });
    const r2 = await cocoon(["--root", root, "create", "--bundle", b2, "c1"]);
    assert.equal(r2.code, 1);
    assert.match(r2.stderr, /field "process\.args": must name a program/);
  });
});

Deno.test("cocoon create refuses a path-traversing id and a missing rootfs with exit 1", async () => {
  await withRoot(async (root, dir) => {
    const b = await bundle(dir, minimalSpec(["sh"]));
    const r = await cocoon(["--root", root, "create", "--bundle", b, "../../etc"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Invalid container id "\.\.\/\.\.\/etc"/);
    await Deno.remove(`${b}/rootfs`);
    const r2 = await cocoon(["--root", root, "create", "--bundle", b, "c1"]);
    assert.equal(r2.code, 1);
    assert.match(r2.stderr, /Cannot use rootfs ".*\/rootfs": it does not exist/);
    assert.deepEqual(await entries(`${root}/oci`), []);
    assert.deepEqual(await entries(`${root}/sandboxes`), []);
  });
});

Deno.test("cocoon create refuses an id in use and leaves the other container's state alone", async () => {
  await withRoot(async (root, dir) => {
    const b = await bundle(dir, minimalSpec(["sh"]));
    await Deno.mkdir(`${root}/oci/taken`, { recursive: true });
    await Deno.writeTextFile(`${root}/oci/taken/holder.json`, "{}");
    const r = await cocoon(["--root", root, "create", "--bundle", b, "taken"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Cannot create container "taken": container with id exists/);
    assert.equal(await Deno.readTextFile(`${root}/oci/taken/holder.json`), "{}");
  });
});

Deno.test("cocoon state/kill/delete of an unknown container say it does not exist (exit 1), also in the JSON log", async () => {
  await withRoot(async (root, dir) => {
    for (
      const verb of [["state", "nope"], ["kill", "nope", "9"], ["delete", "--force", "nope"], [
        "start",
        "nope",
      ]]
    ) {
      const r = await cocoon(["--root", root, ...verb]);
      assert.equal(r.code, 1, verb.join(" "));
      assert.match(r.stderr, /Container "nope" does not exist/);
    }
    const log = `${dir}/log.json`;
    const r = await cocoon(["--root", root, "--log", log, "--log-format", "json", "state", "nope"]);
    assert.equal(r.code, 1);
    const lines = (await Deno.readTextFile(log)).trim().split("\n").map((l) => JSON.parse(l));
    const err = lines.find((l) => l.level === "error");
    assert.equal(err?.msg, 'Container "nope" does not exist');
  });
});

Deno.test("cocoon kill refuses an unknown signal; checkpoint and restore answer not supported", async () => {
  await withRoot(async (root) => {
    const k = await cocoon(["--root", root, "kill", "c1", "SIGNOPE"]);
    assert.equal(k.code, 1);
    assert.match(k.stderr, /Invalid signal "SIGNOPE"/);
    for (const verb of ["checkpoint", "restore"]) {
      const r = await cocoon(["--root", root, verb, "c1"]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, new RegExp(`${verb} is not supported by Cocoon`));
    }
  });
});

Deno.test("cocoon spec writes a parseable config.json once; features and list answer in JSON", async () => {
  await withRoot(async (root, dir) => {
    const s = await cocoon(["spec", "--bundle", dir]);
    assert.equal(s.code, 0, s.stderr);
    const spec = JSON.parse(await Deno.readTextFile(`${dir}/config.json`));
    assert.deepEqual(spec.process.args, ["sh"]);
    assert.equal(spec.process.terminal, true);
    assert.equal(spec.root.path, "rootfs");
    const again = await cocoon(["spec", "--bundle", dir]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /the file exists/);
    const f = await cocoon(["features"]);
    assert.equal(f.code, 0);
    assert.equal(JSON.parse(f.stdout).ociVersionMin, "1.0.0");
    const l = await cocoon(["--root", root, "list", "--format", "json"]);
    assert.equal(l.code, 0, l.stderr);
    assert.deepEqual(JSON.parse(l.stdout), []);
    const t = await cocoon(["--root", root, "list"]);
    assert.match(t.stdout, /^ID\s+PID\s+STATUS\s+BUNDLE\s+CREATED\s+OWNER/);
  });
});
