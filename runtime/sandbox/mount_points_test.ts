import assert from "node:assert/strict";
import { createMountPoints, mountPointPaths } from "./_mount_points.ts";

Deno.test("mountPointPaths() gives clean relative destinations, parents first, without '..'", () => {
  assert.deepEqual(
    mountPointPaths([
      { destination: "/data/deep/x", type: "bind" },
      { destination: "/proc", type: "proc" },
      { destination: "/../etc", type: "bind" },
      { destination: "/", type: "bind" },
    ]),
    ["proc", "data/deep/x"],
  );
});

Deno.test("createMountPoints() makes missing directories and file mount points, never through a link", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cocoon-mountpoints-" });
  try {
    const rootfs = `${dir}/rootfs`;
    await Deno.mkdir(`${rootfs}/etc`, { recursive: true });
    await Deno.mkdir(`${dir}/outside`);
    await Deno.symlink(`${dir}/outside`, `${rootfs}/link`);
    await Deno.writeTextFile(`${dir}/hosts`, "127.0.0.1 x\n");
    await createMountPoints(rootfs, [
      { destination: "/data/sub", type: "bind", source: dir },
      { destination: "/etc/hosts", type: "bind", source: `${dir}/hosts` },
      { destination: "/link/evil", type: "bind", source: dir },
    ]);
    assert.ok((await Deno.stat(`${rootfs}/data/sub`)).isDirectory);
    assert.ok((await Deno.lstat(`${rootfs}/etc/hosts`)).isFile);
    assert.deepEqual([...Deno.readDirSync(`${dir}/outside`)], [], "nothing made through the link");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
