import assert from "node:assert/strict";
import { sandboxId } from "../../../runtime/ids.ts";
import { createLogger, nullSink } from "../../../runtime/log/logger.ts";
import type { Vm } from "../../types.ts";
import {
  hostRunner,
  mountsUnder,
  parseMountPoints,
  type RunResult,
} from "../../../runtime/sys/host_mount.ts";
import { manifest } from "./manifest.ts";
import plugin from "./mod.ts";
import { NinePStorage, parseNinePConfig } from "./nine_p_storage.ts";
import { GUEST_SHARED_DIR, SHARED_TAG, shareKey } from "../../../runtime/sys/shared_dir.ts";

const log = createLogger({ sink: nullSink });
const vm = {} as unknown as Vm; // 9p never calls the VM: shares are bind mounts into a boot-time export

Deno.test({
  name: "shareKey() maps a guest path below the share and refuses dot segments",
  permissions: "none",
  fn() {
    assert.equal(shareKey("/run/cocoon/containers/c1/rootfs"), "run/cocoon/containers/c1/rootfs");
    assert.throws(() => shareKey("/a/../b"), /expected a clean absolute path/);
    assert.throws(() => shareKey("/"), /expected a clean absolute path/);
  },
});

Deno.test({
  name: "parseNinePConfig() accepts msize in range and refuses unknown keys",
  permissions: "none",
  fn() {
    assert.deepEqual(parseNinePConfig({}), { msize: 262144 });
    assert.deepEqual(parseNinePConfig({ msize: 8192 }), { msize: 8192 });
    assert.throws(() => parseNinePConfig({ msize: 1 }), /storage.9p.msize/);
    assert.throws(() => parseNinePConfig({ cache: "x" }), /"storage.9p.cache": it is unknown/);
  },
});

Deno.test({
  name: "parseMountPoints() decodes octal escapes in mountinfo",
  permissions: "none",
  fn() {
    const mi = "36 35 98:0 / /mnt/a\\040b rw - ext3 /dev/root rw\n37 35 98:0 / /x rw - tmpfs t rw\n";
    assert.deepEqual(parseMountPoints(mi), ["/mnt/a b", "/x"]);
  },
});

Deno.test({
  name:
    "NinePStorage.share() binds in the private stage, moves it into the host tree; unshare() undoes it (recorded)",
  permissions: { read: true, write: ["/tmp"] },
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "cocoon-9p-unit-" });
    const calls: string[] = [];
    const runner = {
      run: (cmd: string, args: readonly string[]): Promise<RunResult> => {
        if (cmd !== "cat") calls.push([cmd, ...args].join(" "));
        return Promise.resolve({ code: 0, stdout: "", stderr: "" });
      },
    };
    try {
      await Deno.mkdir(`${dir}/src`);
      const s = new NinePStorage({ runner, log, msize: 65536 });
      const prepared = await s.prepareSandbox({ sandbox: sandboxId("sb"), dir });
      assert.deepEqual(prepared.devices, [{
        kind: "share-fs",
        id: "shared",
        tag: SHARED_TAG,
        source: `${dir}/shared`,
        transport: "9p",
      }]);
      assert.deepEqual(prepared.storages[0]?.options, ["msize=65536", "cache=mmap"]);
      assert.deepEqual(calls, [
        `mount --bind ${dir}/stage ${dir}/stage`,
        `mount --make-private ${dir}/stage`,
        `mount --bind ${dir}/mounts ${dir}/mounts`,
        `mount --make-private ${dir}/mounts`,
        `mount --make-shared ${dir}/mounts`,
        `mount --bind ${dir}/mounts ${dir}/shared`,
        `mount --make-slave ${dir}/shared`,
        `mount -o remount,bind,ro,nosuid,nodev ${dir}/shared`,
      ]);
      calls.length = 0;
      const g = await s.share({ destination: "/", type: "bind", source: `${dir}/src` }, {
        sandbox: sandboxId("sb"),
        vm,
        guestPath: "/c/1/rootfs",
        prepared,
      });
      assert.deepEqual(g, {
        driver: "shared",
        source: `${GUEST_SHARED_DIR}/c/1/rootfs`,
        fstype: "none",
        options: [],
        mountPoint: `${GUEST_SHARED_DIR}/c/1/rootfs`,
        devices: [],
      });
      const stage = calls[0]?.split(" ")[3] ?? "";
      assert.match(stage, new RegExp(`^${dir}/stage/[0-9a-f-]{36}$`));
      assert.deepEqual(calls, [
        `mount --rbind ${dir}/src ${stage}`,
        `mount --make-rprivate ${stage}`,
        `mount --move ${stage} ${dir}/mounts/c/1/rootfs`,
      ]);
      await s.unshare(g, { vm, prepared });
      await assert.rejects(Deno.stat(`${dir}/mounts/c`), Deno.errors.NotFound);
      await assert.rejects(
        s.share({ destination: "/x", type: "bind", source: `${dir}/nope` }, {
          sandbox: sandboxId("sb"),
          vm,
          guestPath: "/x",
          prepared,
        }),
        /Cannot share ".*nope": it does not exist/,
      );
      await s.releaseSandbox(prepared);
      await assert.rejects(Deno.stat(`${dir}/shared`), Deno.errors.NotFound);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

const isRoot = Deno.uid() === 0;

Deno.test({
  name: "9p plugin shares a directory and a file into the export with real bind mounts and leaves none",
  ignore: !isRoot,
  permissions: { ...manifest.permissions },
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "cocoon-9p-" });
    const s = await plugin.create({ log, config: {}, runDir: dir });
    assert.ok(s instanceof NinePStorage);
    const prepared = await s.prepareSandbox({ sandbox: sandboxId("sb"), dir });
    try {
      await Deno.mkdir(`${dir}/src/sub`, { recursive: true });
      await Deno.writeTextFile(`${dir}/src/sub/f`, "data");
      await Deno.writeTextFile(`${dir}/hosts`, "127.0.0.1 x\n");
      assert.ok(s.canHandle({ destination: "/", type: "bind", source: `${dir}/src` }));
      assert.ok(!s.canHandle({ destination: "/dev/null", type: "bind", source: "/dev/null" }));
      assert.ok(!s.canHandle({ destination: "/proc", type: "proc", source: "proc" }));
      const root = await s.share({ destination: "/", type: "bind", source: `${dir}/src` }, {
        sandbox: sandboxId("sb"),
        vm,
        guestPath: "/c/rootfs",
        prepared,
      });
      const file = await s.share({
        destination: "/etc/hosts",
        type: "bind",
        source: `${dir}/hosts`,
        options: ["rbind", "ro"],
      }, { sandbox: sandboxId("sb"), vm, guestPath: "/c/mounts/1", prepared });
      assert.equal(await Deno.readTextFile(`${dir}/shared/c/rootfs/sub/f`), "data");
      assert.equal(await Deno.readTextFile(`${dir}/shared/c/mounts/1`), "127.0.0.1 x\n");
      // "ro" is read-only on the host: the export cannot write the file
      await assert.rejects(Deno.writeTextFile(`${dir}/shared/c/mounts/1`, "guest"));
      assert.equal((await mountsUnder(`${dir}/mounts`)).length, 3); // the tree and two binds
      assert.equal((await mountsUnder(`${dir}/shared`)).length, 3); // its view and their copies
      await s.unshare(file, { vm, prepared });
      await s.unshare(root, { vm, prepared });
      assert.deepEqual(await mountsUnder(`${dir}/mounts`), [`${await Deno.realPath(dir)}/mounts`]);
      assert.deepEqual(await mountsUnder(`${dir}/shared`), [`${await Deno.realPath(dir)}/shared`]);
      assert.equal(await Deno.readTextFile(`${dir}/src/sub/f`), "data"); // the source is untouched
    } finally {
      await s.releaseSandbox(prepared);
      assert.deepEqual(await mountsUnder(dir), []);
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "NinePStorage.releaseSandbox() unmounts leftovers of a crashed sandbox before removing the export",
  ignore: !isRoot,
  permissions: { ...manifest.permissions },
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "cocoon-9p-" });
    const s = new NinePStorage({ runner: hostRunner(), log });
    try {
      const prepared = await s.prepareSandbox({ sandbox: sandboxId("sb"), dir });
      await Deno.mkdir(`${dir}/src`);
      await s.share({ destination: "/", type: "bind", source: `${dir}/src` }, {
        sandbox: sandboxId("sb"),
        vm,
        guestPath: "/c/rootfs",
        prepared,
      });
      await s.releaseSandbox(prepared); // no unshare first: as after a kill -9
      assert.deepEqual(await mountsUnder(dir), []);
      await assert.rejects(Deno.stat(`${dir}/shared`), Deno.errors.NotFound);
      await Deno.stat(`${dir}/src`);
    } finally {
      for (const m of await mountsUnder(dir)) await new Deno.Command("umount", { args: ["-l", m] }).output();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
