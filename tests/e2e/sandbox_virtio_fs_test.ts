/**
 * A real sandbox sharing directories over virtio-fs with the default guest image (Debian's cloud
 * kernel has virtio-fs built in): Debian 13's virtiofsd, installed privately by the plugin's
 * installer (cached), serves a busybox rootfs and a bind-mounted volume; delete leaves no QEMU,
 * virtiofsd, socket, mount or state directory.
 */
import assert from "node:assert/strict";
import { makeBusyboxRootfs } from "../../agent/testing/rootfs.ts";
import { installVirtiofsd } from "../../plugins/storage/virtio-fs/mod.ts";
import { buildGuestImage } from "../../runtime/guest/mod.ts";
import { minimalSpec, parseOciSpec } from "../../runtime/oci/spec.ts";
import { Sandbox } from "../../runtime/sandbox/mod.ts";
import {
  hostCanBoot,
  logLines,
  mountsUnder,
  pidsMatching,
  qemuPids,
  runtimeFor,
  scrub,
  socketsUnder,
} from "./sandbox_util.ts";

const canRun = await hostCanBoot();

Deno.test({
  name: "Sandbox over virtio-fs runs busybox from a shared rootfs with a bind-mounted volume and cleans up",
  ignore: !canRun,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await installVirtiofsd();
    const image = await buildGuestImage({ setCurrent: false });
    const dir = await Deno.makeTempDir({ prefix: "cocoon-e2e-vfs-" });
    const id = `vfs-${crypto.randomUUID().slice(0, 8)}`;
    let sb: Sandbox | undefined;
    try {
      const rootfs = await makeBusyboxRootfs(dir);
      await Deno.mkdir(`${dir}/vol`);
      await Deno.writeTextFile(`${dir}/vol/greeting`, "hello from the host\n");
      const rt = await runtimeFor(dir, image, { sharedFs: "virtio-fs" });
      sb = await Sandbox.create(rt, { id });
      // virtiofsd with --sandbox namespace: its parent and the worker in the new namespaces
      const daemons = await pidsMatching((c) =>
        c.includes("--shared-dir") && c.includes(dir) && !c.includes("qemu")
      );
      assert.ok(daemons.length >= 1 && daemons.length <= 2, `virtiofsd processes: ${daemons}`);
      const raw = {
        ...minimalSpec(["cat", "/data/greeting"]),
        mounts: [
          { destination: "/proc", type: "proc", source: "proc" },
          { destination: "/data", type: "bind", source: `${dir}/vol`, options: ["rbind", "ro"] },
        ],
      };
      await sb.act({
        kind: "create-container",
        opts: { id: `${id}-cat`, spec: parseOciSpec(raw, "e2e"), rootfs },
      });
      const out = new Response(sb.io(`${id}-cat`).stdout).text();
      await sb.act({ kind: "start-container", containerId: `${id}-cat` });
      assert.equal((await sb.wait(`${id}-cat`)).exitStatus, 0);
      assert.equal(await out, "hello from the host\n");

      await sb.act({
        kind: "create-container",
        opts: {
          id: `${id}-seven`,
          spec: parseOciSpec(minimalSpec(["sh", "-c", "exit 7"]), "e"),
          rootfs,
        },
      });
      await sb.act({ kind: "start-container", containerId: `${id}-seven` });
      assert.equal((await sb.wait(`${id}-seven`)).exitStatus, 7);

      await sb.act({ kind: "delete", opts: { force: true } });
      sb = undefined;
      assert.deepEqual(await qemuPids(id), []);
      assert.deepEqual(await pidsMatching((c) => c.includes("--shared-dir") && c.includes(dir)), []);
      assert.deepEqual(await mountsUnder(dir), []);
      assert.deepEqual(await socketsUnder(`${dir}/run`), []);
      await assert.rejects(Deno.stat(`${dir}/run/sandboxes/${id}`), Deno.errors.NotFound);
      assert.equal(await Deno.readTextFile(`${dir}/vol/greeting`), "hello from the host\n");
    } catch (e) {
      // deno-lint-ignore no-console
      console.error(`--- log tail ---\n${logLines.slice(-30).join("")}`);
      throw e;
    } finally {
      if (sb !== undefined) await sb.act({ kind: "delete", opts: { force: true } }).catch(() => {});
      await scrub(dir, id);
      await Deno.remove(dir, { recursive: true });
    }
  },
});
