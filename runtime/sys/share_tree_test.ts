import assert from "node:assert/strict";
import { hostRunner, mountsUnder } from "./host_mount.ts";
import { bindBeneath, createShareTree, removeShareTree } from "./share_tree.ts";

const root = Deno.uid() === 0;

async function withTree(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "cocoon-share-tree-" }));
  try {
    await fn(dir);
  } finally {
    const r = hostRunner();
    for (const mp of await mountsUnder(dir, r)) await r.run("umount", ["-l", mp]);
    await Deno.remove(dir, { recursive: true });
  }
}

async function mountOptions(path: string): Promise<string[]> {
  const info = await Deno.readTextFile("/proc/self/mountinfo");
  const line = info.split("\n").find((l) => l.split(" ")[4] === path);
  assert.ok(line, `${path} is a mount point`);
  return (line.split(" ")[5] ?? "").split(",");
}

Deno.test({
  name: "share tree: the export is a read-only view; binds appear in it with their own flags",
  ignore: !root,
  async fn() {
    await withTree(async (dir) => {
      const r = hostRunner();
      const src = `${dir}/src`;
      const vol = `${dir}/vol`;
      await Deno.mkdir(src);
      await Deno.mkdir(vol);
      await Deno.writeTextFile(`${vol}/f`, "host bytes");
      const t = await createShareTree(r, `${dir}/sandbox`);
      assert.ok((await mountOptions(t.exportDir)).includes("ro"));
      await assert.rejects(Deno.mkdir(`${t.exportDir}/x`), /read-only|Read-only/i);
      await bindBeneath(r, t, { rel: "run/c1/rootfs", source: src, readonly: false });
      await bindBeneath(r, t, { rel: "run/c1/mounts/0", source: vol, readonly: true });
      // the writable bind is writable through the export, the read-only one is not
      await Deno.writeTextFile(`${t.exportDir}/run/c1/rootfs/new`, "guest");
      assert.equal(await Deno.readTextFile(`${src}/new`), "guest");
      await assert.rejects(Deno.writeTextFile(`${t.exportDir}/run/c1/mounts/0/f`, "guest"));
      assert.equal(await Deno.readTextFile(`${vol}/f`), "host bytes");
      for (const p of [`${t.exportDir}/run/c1/rootfs`, `${t.exportDir}/run/c1/mounts/0`]) {
        const o = await mountOptions(p);
        assert.ok(o.includes("nosuid") && o.includes("nodev"), `${p}: ${o}`);
      }
      assert.ok((await mountOptions(`${t.exportDir}/run/c1/mounts/0`)).includes("ro"));
      // the tree around the binds cannot be written through the export
      await assert.rejects(Deno.symlink("/etc", `${t.exportDir}/run/c1/mounts/1`));
      await removeShareTree(r, t);
      assert.deepEqual(await mountsUnder(`${dir}/sandbox`, r), []);
      assert.equal(await Deno.readTextFile(`${vol}/f`), "host bytes");
      assert.equal(await Deno.readTextFile(`${src}/new`), "guest");
    });
  },
});

Deno.test({
  name: "share tree: a symbolic link or a writable bind on the way is refused, nothing is mounted",
  ignore: !root,
  async fn() {
    await withTree(async (dir) => {
      const r = hostRunner();
      const src = `${dir}/src`;
      await Deno.mkdir(src);
      await Deno.mkdir(`${dir}/victim`);
      const t = await createShareTree(r, `${dir}/sandbox`);
      // as if the guest had planted a link in the tree (it cannot: the export is read-only)
      await Deno.mkdir(`${t.hostDir}/run`);
      await Deno.symlink(`${dir}/victim`, `${t.hostDir}/run/c2`);
      await assert.rejects(
        bindBeneath(r, t, { rel: "run/c2/mounts/0", source: src, readonly: false }),
        /symbolic link/,
      );
      // a path through a bind the guest can write (a rootfs) is refused too
      await bindBeneath(r, t, { rel: "run/c1/rootfs", source: src, readonly: false });
      await assert.rejects(
        bindBeneath(r, t, { rel: "run/c1/rootfs/etc/x", source: src, readonly: false }),
        /mount point/,
      );
      assert.deepEqual([...Deno.readDirSync(`${dir}/victim`)], []);
      assert.deepEqual([...Deno.readDirSync(src)], []);
      await removeShareTree(r, t);
      assert.deepEqual(await mountsUnder(`${dir}/sandbox`, r), []);
    });
  },
});

Deno.test({
  name: "share tree: preparing a directory that already has its tree (moved from the VM cache) keeps it",
  ignore: !root,
  async fn() {
    await withTree(async (dir) => {
      const r = hostRunner();
      const src = `${dir}/src`;
      await Deno.mkdir(src);
      const first = await createShareTree(r, `${dir}/cache-vm`);
      await Deno.rename(`${dir}/cache-vm`, `${dir}/sandbox`);
      const t = await createShareTree(r, `${dir}/sandbox`);
      assert.equal((await mountsUnder(`${dir}/sandbox`, r)).length, 3, "no second set of mounts");
      await bindBeneath(r, t, { rel: "c/rootfs", source: src, readonly: false });
      await Deno.writeTextFile(`${t.exportDir}/c/rootfs/f`, "x");
      await removeShareTree(r, t);
      assert.deepEqual(await mountsUnder(dir, r), []);
      assert.ok(first.hostDir.endsWith("/cache-vm/mounts"));
    });
  },
});
