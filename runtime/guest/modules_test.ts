import assert from "node:assert/strict";
import { moduleName, parseModulesDep, parseSoftDeps, selectModules } from "./modules.ts";

const DEP = `kernel/fs/9p/9p.ko.xz: kernel/net/9p/9pnet.ko.xz kernel/fs/netfs/netfs.ko.xz
kernel/net/9p/9pnet.ko.xz:
kernel/fs/netfs/netfs.ko.xz:
kernel/net/9p/9pnet_virtio.ko.xz: kernel/net/9p/9pnet.ko.xz
kernel/fs/erofs/erofs.ko.xz: kernel/fs/netfs/netfs.ko.xz
kernel/drivers/nvdimm/nd_pmem.ko.xz: kernel/drivers/nvdimm/nd_btt.ko.xz kernel/drivers/nvdimm/libnvdimm.ko.xz
kernel/drivers/nvdimm/nd_btt.ko.xz: kernel/drivers/nvdimm/libnvdimm.ko.xz
kernel/drivers/nvdimm/libnvdimm.ko.xz:
`;

Deno.test({
  name: "moduleName() strips the suffix and normalises dashes",
  permissions: "none",
  fn() {
    assert.equal(moduleName("kernel/net/9p/9pnet_virtio.ko.xz"), "9pnet_virtio");
    assert.equal(moduleName("kernel/drivers/x/foo-bar.ko"), "foo_bar");
  },
});

Deno.test({
  name: "selectModules() adds dependencies first and separates built-in modules",
  permissions: "none",
  fn() {
    const sel = selectModules(parseModulesDep(DEP), ["kernel/drivers/virtio/virtio_pci.ko"], [
      "9p",
      "virtio_pci",
      "nd_pmem",
      "erofs",
    ]);
    assert.deepEqual(sel.load, ["9p", "nd_pmem", "erofs"]);
    assert.deepEqual(sel.builtin, ["virtio_pci"]);
    assert.deepEqual(sel.paths, [
      "kernel/net/9p/9pnet.ko.xz",
      "kernel/fs/netfs/netfs.ko.xz",
      "kernel/fs/9p/9p.ko.xz",
      "kernel/drivers/nvdimm/libnvdimm.ko.xz",
      "kernel/drivers/nvdimm/nd_btt.ko.xz",
      "kernel/drivers/nvdimm/nd_pmem.ko.xz",
      "kernel/fs/erofs/erofs.ko.xz",
    ]);
  },
});

Deno.test({
  name: "selectModules() fails on a name that is neither a module nor built in",
  permissions: "none",
  fn() {
    assert.throws(
      () => selectModules(parseModulesDep(DEP), [], ["nosuch"]),
      /Cannot find kernel module "nosuch"/,
    );
  },
});

Deno.test({
  name: "selectModules() loads soft pre-dependencies (through aliases) before the module needing them",
  permissions: "none",
  fn() {
    const dep = parseModulesDep(`kernel/fs/erofs/erofs.ko.xz: kernel/lib/libcrc32c.ko.xz
kernel/lib/libcrc32c.ko.xz:
kernel/crypto/crc32c_generic.ko.xz:
`);
    const soft = parseSoftDeps(
      "# comment\nsoftdep libcrc32c pre: crc32c post: other\n",
      "alias crc32c crc32c_generic\nalias crypto-crc32c crc32c_generic\nalias pci:v*d* foo\n",
    );
    const sel = selectModules(dep, [], ["erofs"], soft);
    assert.deepEqual(sel.load, ["crc32c_generic", "erofs"]);
    assert.deepEqual(sel.paths, [
      "kernel/crypto/crc32c_generic.ko.xz",
      "kernel/lib/libcrc32c.ko.xz",
      "kernel/fs/erofs/erofs.ko.xz",
    ]);
  },
});
