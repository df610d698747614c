import assert from "node:assert/strict";
import { absolutePath, canonicalPath, canonicalPathSync } from "./canonical_path.ts";
import type { HostRunner } from "./host_mount.ts";
import { removeTree } from "./safe_remove.ts";
import { isRuntimeError } from "../errors.ts";

/** A runner whose `cat /proc/self/mountinfo` shows `mounts` as mount points. */
function fakeMounts(mounts: string[]): HostRunner {
  return {
    run: (cmd) =>
      Promise.resolve(
        cmd === "cat"
          ? {
            code: 0,
            stdout: mounts.map((m, i) => `${i + 30} 1 0:${i} / ${m} rw - tmpfs tmpfs rw`).join("\n"),
            stderr: "",
          }
          : { code: 1, stderr: "unexpected" },
      ),
  };
}

Deno.test("absolutePath() normalises without touching the filesystem", () => {
  assert.equal(absolutePath("a/../b/", "/x"), "/x/b");
  assert.equal(absolutePath("/a//b/./c/", "/x"), "/a/b/c");
  assert.equal(absolutePath("/", "/x"), "/");
});

Deno.test("canonicalPath() resolves links of the existing prefix and keeps the missing rest", async () => {
  const d = await Deno.realPath(await Deno.makeTempDir());
  try {
    await Deno.mkdir(`${d}/real`);
    await Deno.symlink(`${d}/real`, `${d}/link`);
    assert.equal(await canonicalPath(`${d}/link/not/yet`), `${d}/real/not/yet`);
    assert.equal(canonicalPathSync(`${d}/link`), `${d}/real`);
    assert.equal(await canonicalPath(`${d}/link/../real`), `${d}/real`);
  } finally {
    await Deno.remove(d, { recursive: true });
  }
});

Deno.test("removeTree() refuses a tree with a mount below it, seen through a linked path, and removes nothing", async () => {
  const d = await Deno.realPath(await Deno.makeTempDir());
  try {
    await Deno.mkdir(`${d}/real/shared/rootfs`, { recursive: true });
    await Deno.writeTextFile(`${d}/real/shared/rootfs/keep`, "user data");
    await Deno.symlink(`${d}/real`, `${d}/link`);
    await assert.rejects(
      () => removeTree(`${d}/link`, fakeMounts([`${d}/real/shared/rootfs`])),
      (e) => isRuntimeError(e) && e.code === "FailedPrecondition" && /mount/.test(e.message),
    );
    assert.equal(await Deno.readTextFile(`${d}/real/shared/rootfs/keep`), "user data");
  } finally {
    await Deno.remove(d, { recursive: true });
  }
});

Deno.test("removeTree() removes links, not their targets; a missing tree is fine", async () => {
  const d = await Deno.realPath(await Deno.makeTempDir());
  try {
    await Deno.mkdir(`${d}/outside`);
    await Deno.writeTextFile(`${d}/outside/keep`, "x");
    await Deno.mkdir(`${d}/tree/sub`, { recursive: true });
    await Deno.writeTextFile(`${d}/tree/sub/f`, "y");
    await Deno.symlink(`${d}/outside`, `${d}/tree/sub/to-outside`);
    await removeTree(`${d}/tree`, fakeMounts([]));
    assert.equal(await Deno.stat(`${d}/tree`).then(() => true, () => false), false);
    assert.equal(await Deno.readTextFile(`${d}/outside/keep`), "x");
    await removeTree(`${d}/tree`, fakeMounts([]));
  } finally {
    await Deno.remove(d, { recursive: true });
  }
});
