import assert from "node:assert/strict";
import { sandboxId } from "../../../runtime/ids.ts";
import { createLogger, nullSink } from "../../../runtime/log/logger.ts";
import type { AttachedDevice, Device, Vm } from "../../types.ts";
import { manifest } from "./manifest.ts";
import plugin from "./mod.ts";
import { blockDeviceId, detectFsType, VirtioBlkStorage } from "./virtio_blk_storage.ts";

/** A VM that records hotplug calls. */
function recordingVm(): { vm: Vm; added: Device[]; removed: AttachedDevice[] } {
  const added: Device[] = [];
  const removed: AttachedDevice[] = [];
  const vm = {
    addDevice: (d: Device) => {
      added.push(d);
      return Promise.resolve({ device: d, guestAddress: "0000:02:00.0" });
    },
    removeDevice: (a: AttachedDevice) => {
      removed.push(a);
      return Promise.resolve();
    },
  } as unknown as Vm; // only the two hotplug methods are used
  return { vm, added, removed };
}

Deno.test({
  name: "virtio-blk share() hot-plugs an image file and unshare() removes the same device",
  permissions: { ...manifest.permissions, write: ["/tmp"] },
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "cocoon-blk-" });
    try {
      const img = `${dir}/vol.img`;
      await Deno.writeFile(img, new Uint8Array(1024));
      const s = await plugin.create({ log: createLogger({ sink: nullSink }), config: {}, runDir: dir });
      assert.ok(s instanceof VirtioBlkStorage);
      assert.ok(s.canHandle({ destination: "/", source: img }));
      assert.ok(!s.canHandle({ destination: "/etc/hosts", type: "bind", source: img }));
      assert.ok(!s.canHandle({ destination: "/data", type: "bind", source: dir }));
      const { vm, added, removed } = recordingVm();
      const g = await s.share({ destination: "/data", type: "ext4", source: img, options: ["ro"] }, {
        sandbox: sandboxId("sb"),
        vm,
        guestPath: "/run/cocoon/containers/c1/mounts/0",
      });
      const id = blockDeviceId("/run/cocoon/containers/c1/mounts/0");
      assert.deepEqual(added, [{ kind: "block", id, path: img, readOnly: true, driver: "virtio-blk" }]);
      assert.deepEqual(g, {
        driver: "virtio-blk",
        source: "/sys/bus/pci/devices/0000:02:00.0",
        fstype: "ext4",
        options: ["ro"],
        mountPoint: "/run/cocoon/containers/c1/mounts/0",
        devices: added,
      });
      await s.unshare(g, { vm });
      assert.deepEqual(removed, [{ device: added[0], guestAddress: "0000:02:00.0" }]);
      // A rootfs image that names no type: its superblock says which (here an ext4 magic).
      const ext = new Uint8Array(2048);
      ext.set([0x53, 0xef], 1080);
      await Deno.writeFile(img, ext);
      const root = await s.share({ destination: "/", source: img }, {
        sandbox: sandboxId("sb"),
        vm,
        guestPath: "/r",
      });
      assert.equal(root.fstype, "ext4");
      await assert.rejects(
        s.share({ destination: "/x", source: dir }, { sandbox: sandboxId("sb"), vm, guestPath: "/x" }),
        /is not a block device or an image file/,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "detectFsType() reads ext2/3/4 and xfs superblocks, and gives up on anything else",
  permissions: "none",
  fn() {
    const ext = new Uint8Array(4096);
    ext.set([0x53, 0xef], 1080);
    assert.equal(detectFsType(ext), "ext4");
    assert.equal(detectFsType(new TextEncoder().encode("XFSB and more")), "xfs");
    assert.equal(detectFsType(new Uint8Array(4096)), "");
    assert.equal(detectFsType(new Uint8Array(0)), "");
  },
});
