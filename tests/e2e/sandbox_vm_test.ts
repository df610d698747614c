/**
 * A real sandbox: QEMU (TCG here) + the guest image + the real agent + crun in the guest. A busybox
 * rootfs directory reaches the guest over 9p; containers print "hi" and exit 0, 7 and 137; a second
 * runtime (a "new process") re-attaches; delete leaves no QEMU, socket, mount or state directory.
 *
 * The default guest image uses Debian's generic kernel, which has 9p (the cloud kernels have none);
 * ensureGuestImage() builds it once, cached by content hash.
 */
import assert from "node:assert/strict";
import { makeBusyboxRootfs } from "../../agent/testing/rootfs.ts";
import { minimalSpec, parseOciSpec } from "../../runtime/oci/spec.ts";
import { Sandbox } from "../../runtime/sandbox/mod.ts";
import {
  guestImageWith9p,
  hostCanBoot,
  logLines,
  mountsUnder,
  qemuPids,
  runtimeFor,
  scrub,
  socketsUnder,
} from "./sandbox_util.ts";

const canRun = await hostCanBoot();
const opts = { ignore: !canRun, sanitizeResources: false, sanitizeOps: false };

const spec = (args: string[]) => parseOciSpec(minimalSpec(args), "e2e");

Deno.test({
  name:
    "Sandbox on real QEMU runs busybox from a 9p rootfs: stdout, exit codes 0/7/137, re-attach, clean delete",
  ...opts,
  async fn() {
    const image = await guestImageWith9p();
    const dir = await Deno.makeTempDir({ prefix: "cocoon-e2e-" });
    const id = `e2e-${crypto.randomUUID().slice(0, 8)}`;
    let sb: Sandbox | undefined;
    try {
      const rootfs = await makeBusyboxRootfs(dir);
      const rt = await runtimeFor(dir, image);
      const t0 = performance.now();
      sb = await Sandbox.create(rt, { id });
      const readyMs = performance.now() - t0;
      assert.equal(sb.status().kind, "ready");
      assert.equal((await qemuPids(id)).length, 1);

      await sb.act({
        kind: "create-container",
        opts: { id: `${id}-echo`, spec: spec(["echo", "hi"]), rootfs },
      });
      const out = new Response(sb.io(`${id}-echo`).stdout).text();
      await sb.act({ kind: "start-container", containerId: `${id}-echo` });
      assert.equal((await sb.wait(`${id}-echo`)).exitStatus, 0);
      assert.equal(await out, "hi\n");

      await sb.act({
        kind: "create-container",
        opts: { id: `${id}-seven`, spec: spec(["sh", "-c", "exit 7"]), rootfs },
      });
      await sb.act({ kind: "start-container", containerId: `${id}-seven` });
      assert.equal((await sb.wait(`${id}-seven`)).exitStatus, 7);

      await sb.act({
        kind: "create-container",
        opts: { id: `${id}-sleep`, spec: spec(["sleep", "600"]), rootfs },
      });
      await sb.act({ kind: "start-container", containerId: `${id}-sleep` });
      const ex = await sb.act({
        kind: "exec",
        containerId: `${id}-sleep`,
        opts: {
          execId: "ls",
          process: spec(["ls", "/bin/busybox"]).process!,
        },
      });
      assert.equal(ex.status.kind, "running");
      assert.equal((await sb.waitExec(`${id}-sleep`, "ls")).exitStatus, 0);

      // A second runtime (as a new process would) takes over the sandbox.
      await sb.release();
      const rt2 = await runtimeFor(dir, image);
      sb = await Sandbox.fetch(rt2, id);
      assert.equal((await sb.container(`${id}-sleep`)).status.kind, "running");
      await sb.act({ kind: "kill", containerId: `${id}-sleep`, signal: "KILL" });
      assert.equal((await sb.wait(`${id}-sleep`)).exitStatus, 137);

      for (const c of ["echo", "seven", "sleep"]) {
        await sb.act({ kind: "delete-container", containerId: `${id}-${c}` });
      }
      await sb.act({ kind: "delete" });
      sb = undefined;
      assert.deepEqual(await qemuPids(id), []);
      assert.deepEqual(await mountsUnder(dir), []);
      assert.deepEqual(await socketsUnder(`${dir}/run`), []);
      await assert.rejects(Deno.stat(`${dir}/run/sandboxes/${id}`), Deno.errors.NotFound);
      assert.deepEqual((await Array.fromAsync(Deno.readDir(`${dir}/run/sandboxes`))).length, 0);
      // deno-lint-ignore no-console
      console.log(`sandbox ready in ${Math.round(readyMs)} ms (TCG)`);
    } catch (e) {
      const consoleLog = await Deno.readTextFile(`${dir}/run/sandboxes/${id}/console.log`).catch(() => "");
      // deno-lint-ignore no-console
      console.error(
        `--- console tail ---\n${consoleLog.slice(-4000)}\n--- log tail ---\n${logLines.slice(-40).join("")}`,
      );
      throw e;
    } finally {
      if (sb !== undefined) await sb.act({ kind: "delete", opts: { force: true } }).catch(() => {});
      await scrub(dir, id);
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "Sandbox after kill -9 of QEMU: fetch marks it stopped and delete force leaves no mount, socket or directory",
  ...opts,
  async fn() {
    const image = await guestImageWith9p();
    const dir = await Deno.makeTempDir({ prefix: "cocoon-e2e-kill-" });
    const id = `kill-${crypto.randomUUID().slice(0, 8)}`;
    try {
      const rootfs = await makeBusyboxRootfs(dir);
      const sb = await Sandbox.create(await runtimeFor(dir, image), { id });
      await sb.act({ kind: "create-container", opts: { id, spec: spec(["sleep", "600"]), rootfs } });
      await sb.act({ kind: "start-container", containerId: id });
      // the share tree (its host tree, read-only view and stage) and the rootfs bind in the tree and,
      // propagated, in the view the 9p export serves
      const mounts = await mountsUnder(`${dir}/run`);
      assert.equal(mounts.length, 5, mounts.join(" "));
      assert.equal(mounts.filter((m) => m.endsWith("/rootfs")).length, 2, mounts.join(" "));
      const [pid] = await qemuPids(id);
      assert.ok(pid !== undefined);
      await sb.release();
      Deno.kill(pid, "SIGKILL");
      while ((await qemuPids(id)).length > 0) await new Promise((r) => setTimeout(r, 50));

      const again = await Sandbox.fetch(await runtimeFor(dir, image), id);
      assert.equal(again.status().kind, "stopped");
      const c = await again.container(id);
      assert.equal(c.status.kind, "stopped");
      await again.act({ kind: "delete" }); // stopped: no force needed, the dead VM's leftovers are cleaned
      assert.deepEqual(await mountsUnder(dir), []);
      assert.deepEqual(await socketsUnder(`${dir}/run`), []);
      await assert.rejects(Deno.stat(`${dir}/run/sandboxes/${id}`), Deno.errors.NotFound);
    } finally {
      await scrub(dir, id);
      await Deno.remove(dir, { recursive: true });
    }
  },
});
