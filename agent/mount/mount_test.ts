import assert from "node:assert/strict";
import { diskModule, mountArgv, storageDriver } from "./mount.ts";

const base = { driverOptions: [], fsType: "", options: [], readOnly: false };

Deno.test({
  name: "mountArgv() builds mount(8) commands per driver",
  permissions: "none",
  fn() {
    assert.deepEqual(mountArgv({ ...base, driver: "9p", source: "share0", mountPoint: "/run/a" }), [
      "mount",
      "-t",
      "9p",
      "-o",
      "trans=virtio,version=9p2000.L",
      "share0",
      "/run/a",
    ]);
    assert.deepEqual(
      mountArgv({ ...base, driver: "virtio-fs", source: "fs0", mountPoint: "/run/b", readOnly: true }),
      [
        "mount",
        "-t",
        "virtiofs",
        "-o",
        "ro",
        "fs0",
        "/run/b",
      ],
    );
    assert.deepEqual(
      mountArgv({ ...base, driver: "virtio-blk", source: "/dev/vdb", fsType: "ext4", mountPoint: "/run/c" }),
      [
        "mount",
        "-t",
        "ext4",
        "/dev/vdb",
        "/run/c",
      ],
    );
    assert.deepEqual(
      mountArgv({ ...base, driver: "tmpfs", source: "", options: ["size=1m"], mountPoint: "/run/d" }),
      [
        "mount",
        "-t",
        "tmpfs",
        "-o",
        "size=1m",
        "tmpfs",
        "/run/d",
      ],
    );
    assert.deepEqual(mountArgv({ ...base, driver: "bind", source: "/run/a", mountPoint: "/run/e" }), [
      "mount",
      "--bind",
      "/run/a",
      "/run/e",
    ]);
  },
});

Deno.test({
  name: "mountArgv() and storageDriver() reject relative paths, traversal and unknown drivers",
  permissions: "none",
  fn() {
    assert.throws(() => mountArgv({ ...base, driver: "tmpfs", source: "", mountPoint: "run/x" }), {
      code: "InvalidArgument",
    });
    assert.throws(() => mountArgv({ ...base, driver: "bind", source: "/a/../etc", mountPoint: "/x" }), {
      code: "InvalidArgument",
    });
    assert.throws(() => storageDriver("nfs"), { code: "InvalidArgument" });
    assert.equal(storageDriver("9p"), "9p");
  },
});

Deno.test({
  name: "diskModule() loads the disk's filesystem, ext4 when the host named none, nothing for shares",
  permissions: "none",
  fn() {
    const disk = { ...base, driver: "virtio-blk" as const, source: "/dev/vdb", mountPoint: "/run/c" };
    assert.equal(diskModule(disk), "ext4");
    assert.equal(diskModule({ ...disk, fsType: "xfs" }), "xfs");
    assert.equal(diskModule({ ...disk, fsType: "ext4 -o x" }), undefined, "not a module name");
    assert.equal(diskModule({ ...base, driver: "9p", source: "s", mountPoint: "/run/d" }), undefined);
  },
});
