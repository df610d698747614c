/**
 * Disks through virtio-blk in a real sandbox: an ext4 image file as a container's rootfs and an
 * ext4 image file as a volume (`{"type": "ext4", "source": "<file>"}`), both hot-plugged. What the
 * container writes lands in the image files (read back on the host with debugfs), and delete
 * unplugs them and leaves nothing.
 */
import assert from "node:assert/strict";
import { makeBusyboxRootfs } from "../../agent/testing/rootfs.ts";
import { buildGuestImage } from "../../runtime/guest/mod.ts";
import { minimalSpec, parseOciSpec } from "../../runtime/oci/spec.ts";
import { Sandbox } from "../../runtime/sandbox/mod.ts";
import {
  hostCanBoot,
  logLines,
  mountsUnder,
  qemuPids,
  runtimeFor,
  scrub,
  socketsUnder,
} from "./sandbox_util.ts";

async function run(cmd: string, args: string[]): Promise<string> {
  const r = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const dec = new TextDecoder();
  if (!r.success) throw new Error(`${cmd} ${args.join(" ")} failed: ${dec.decode(r.stderr)}`);
  return dec.decode(r.stdout);
}

const canRun = await hostCanBoot() &&
  await run("sh", ["-c", "command -v mkfs.ext4 && command -v debugfs"]).then(() => true, () => false);

Deno.test({
  name: "virtio-blk: an ext4 image as rootfs and another as a volume; writes reach the images; clean delete",
  ignore: !canRun,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const image = await buildGuestImage({ setCurrent: false });
    const dir = await Deno.makeTempDir({ prefix: "cocoon-e2e-blk-" });
    const id = `blk-${crypto.randomUUID().slice(0, 8)}`;
    let sb: Sandbox | undefined;
    try {
      const src = await makeBusyboxRootfs(`${dir}/src`);
      const rootImg = `${dir}/rootfs.ext4`;
      const volImg = `${dir}/vol.ext4`;
      await run("mkfs.ext4", ["-q", "-F", "-d", src, rootImg, "64M"]);
      await run("mkfs.ext4", ["-q", "-F", volImg, "16M"]);
      const rt = await runtimeFor(dir, image);
      sb = await Sandbox.create(rt, { id });
      const raw = {
        ...minimalSpec([
          "sh",
          "-c",
          "echo on-root > /written && echo on-vol > /data/written && sync && grep -E ' (/|/data) ' /proc/mounts",
        ]),
        mounts: [
          { destination: "/proc", type: "proc", source: "proc" },
          { destination: "/data", type: "ext4", source: volImg, options: ["rw"] },
        ],
      };
      const cid = `${id}-c`;
      await sb.act({
        kind: "create-container",
        opts: { id: cid, spec: parseOciSpec(raw, "e2e"), rootfs: rootImg },
      });
      const out = new Response(sb.io(cid).stdout).text();
      await sb.act({ kind: "start-container", containerId: cid });
      assert.equal((await sb.wait(cid)).exitStatus, 0);
      const mounts = await out;
      assert.match(mounts, /^\S+ \/ ext4 rw/m, mounts);
      assert.match(mounts, /^\S+ \/data ext4 rw/m, mounts);

      await sb.act({ kind: "delete", opts: { force: true } });
      sb = undefined;
      assert.deepEqual(await qemuPids(id), []);
      assert.deepEqual(await mountsUnder(dir), []);
      assert.deepEqual(await socketsUnder(`${dir}/run`), []);
      await assert.rejects(Deno.stat(`${dir}/run/sandboxes/${id}`), Deno.errors.NotFound);
      // The writes are in the image files themselves.
      assert.equal(await run("debugfs", ["-R", "cat /written", rootImg]), "on-root\n");
      assert.equal(await run("debugfs", ["-R", "cat /written", volImg]), "on-vol\n");
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
