/**
 * Delete never destroys host data and never forgets a live VM, through the installed program:
 * - the whole lifecycle under a `--root` reached through a symbolic link (Docker's
 *   /var/run/docker/runtime-*, /var/run being a link to /run), with a host rootfs directory and a
 *   bind volume: both are byte-for-byte intact after `delete --force`, and nothing is left;
 * - a holder killed with SIGKILL after create: `delete --force` stops its VM and virtiofsd;
 * - the same with the sandbox's record lost too: `delete --force` still finds the VM by its
 *   `-name cocoon-<id>` and sandbox directory;
 * - a prestart hook that fails: create fails with its words, nothing is left;
 * - `cocoon create` killed while the VM boots: `delete --force` ends the holder still creating it.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { hostCanBoot, mountsUnder, pidsMatching, withOciWorld } from "./oci_world.ts";
import { minimalSpec } from "../../runtime/oci/spec.ts";

const canRun = await hostCanBoot();
const opts = { ignore: !canRun, sanitizeResources: false, sanitizeOps: false };

/** A digest of every name, type, mode, link target and file content under `dir`. */
async function treeDigest(dir: string): Promise<string> {
  const h = createHash("sha256");
  const walk = async (d: string, rel: string): Promise<void> => {
    const names = (await Array.fromAsync(Deno.readDir(d))).map((e) => e.name).sort();
    for (const n of names) {
      const p = `${d}/${n}`;
      const st = await Deno.lstat(p);
      h.update(`${rel}/${n} ${st.mode} `);
      if (st.isSymlink) h.update(await Deno.readLink(p));
      else if (st.isDirectory) await walk(p, `${rel}/${n}`);
      else h.update(await Deno.readFile(p));
      h.update("\n");
    }
  };
  await walk(dir, "");
  return h.digest("hex");
}

Deno.test({
  name:
    "delete --force under a linked --root keeps the host rootfs and volume intact; killed holders and lost records leave no VM",
  ...opts,
  async fn() {
    await withOciWorld(async (w) => {
      const tag = crypto.randomUUID().slice(0, 8);
      const real = `/run/cocoon-real-${tag}`;
      const link = `${w.dir}/linkroot`;
      await Deno.mkdir(real);
      await Deno.symlink(real, link);
      const vol = `${w.dir}/volume`;
      try {
        await Deno.mkdir(`${vol}/sub`, { recursive: true });
        await Deno.writeTextFile(`${vol}/keep.txt`, "volume data\n");
        await Deno.writeTextFile(`${vol}/sub/deep.bin`, "x".repeat(100_000));
        await Deno.mkdir(`${w.rootfs}/data`, { recursive: true }); // the mount point exists already
        const bundle = `${w.dir}/bundle`;
        await Deno.mkdir(bundle);
        const spec = minimalSpec(["sleep", "600"], { terminal: false, rootfs: w.rootfs }) as Record<
          string,
          unknown
        >;
        spec["mounts"] = [
          ...(Array.isArray(spec["mounts"]) ? spec["mounts"] : []),
          { destination: "/data", type: "bind", source: vol, options: ["rbind", "rw"] },
        ];
        await Deno.writeTextFile(`${bundle}/config.json`, JSON.stringify(spec));
        const before = { rootfs: await treeDigest(w.rootfs), vol: await treeDigest(vol) };
        const cli = (args: string[]) => w.cocoon(["--root", link, ...args]);
        // `create`'s stdio is the container's: its holder keeps the pipes, so only the exit is awaited.
        const create = async (id: string): Promise<{ code: number; stderr: string }> => {
          const p = w.spawn(["--root", link, "create", "--bundle", bundle, id]);
          const st = await p.status;
          const err = st.success ? "" : new TextDecoder().decode((await p.stderr.getReader().read()).value);
          await p.stdout.cancel().catch(() => {});
          await p.stderr.cancel().catch(() => {});
          return { code: st.code, stderr: err };
        };

        // 1. The whole lifecycle under the linked root.
        const c = await create("safe1");
        assert.equal(c.code, 0, c.stderr);
        assert.equal((await cli(["start", "safe1"])).code, 0);
        const cat = await cli(["exec", "safe1", "cat", "/data/keep.txt"]);
        assert.equal(cat.stdout, "volume data\n", cat.stderr);
        const del = await cli(["delete", "--force", "safe1"]);
        assert.equal(del.code, 0, del.stderr);
        assert.deepEqual(await mountsUnder(real), [], "no mount left under the real root");
        assert.deepEqual(await pidsMatching(real, "qemu-system"), [], "no VM left");
        assert.deepEqual({ rootfs: await treeDigest(w.rootfs), vol: await treeDigest(vol) }, before);

        // 2 and 3. A holder killed after create (and then its sandbox record lost too).
        for (const loseRecord of [false, true]) {
          const id = loseRecord ? "lost2" : "killed2";
          const cr = await create(id);
          assert.equal(cr.code, 0, cr.stderr);
          const holder = JSON.parse(await Deno.readTextFile(`${real}/oci/${id}/holder.json`)).pid as number;
          Deno.kill(holder, "SIGKILL");
          assert.ok(
            (await pidsMatching(`cocoon-${id}`, "qemu-system")).length > 0,
            "the VM outlives its holder",
          );
          if (loseRecord) await Deno.remove(`${real}/store`, { recursive: true });
          const d = await cli(["delete", "--force", id]);
          assert.equal(d.code, 0, d.stderr);
          for (let i = 0; i < 50 && (await pidsMatching(`${real}/`)).length > 0; i++) {
            await new Promise((r) => setTimeout(r, 100));
          }
          assert.deepEqual(await pidsMatching(`${real}/`), [], `no QEMU or virtiofsd left (${id})`);
          assert.deepEqual(await mountsUnder(real), [], `no mount left (${id})`);
          const st = await cli(["state", id]);
          assert.notEqual(st.code, 0, "the container is gone");
          assert.deepEqual({ rootfs: await treeDigest(w.rootfs), vol: await treeDigest(vol) }, before);
        }

        // 4. A prestart hook that fails: create fails with the hook's words and leaves nothing.
        const hooked = JSON.parse(await Deno.readTextFile(`${bundle}/config.json`));
        hooked.hooks = {
          prestart: [{ path: "/bin/sh", args: ["sh", "-c", "echo hook says no >&2; exit 9"] }],
        };
        const hb = `${w.dir}/bundle-hook`;
        await Deno.mkdir(hb);
        await Deno.writeTextFile(
          `${hb}/config.json`,
          JSON.stringify({ ...hooked, root: { path: w.rootfs } }),
        );
        const hp = w.spawn(["--root", link, "create", "--bundle", hb, "hooked4"]);
        const hs = await hp.status;
        const herr = new TextDecoder().decode((await hp.stderr.getReader().read()).value ?? new Uint8Array());
        await hp.stdout.cancel().catch(() => {});
        assert.notEqual(hs.code, 0);
        assert.match(herr, /prestart hook "\/bin\/sh" exited with code 9: hook says no/);
        assert.notEqual((await cli(["state", "hooked4"])).code, 0);

        // 4b. poststart and poststop hooks run on the host with the state on stdin, poststop also
        // when the container had exited (and its holder with it) before delete.
        const hb2 = `${w.dir}/bundle-hook2`;
        await Deno.mkdir(hb2);
        const out = (stage: string) => `${w.dir}/${stage}.json`;
        const posthooks = JSON.parse(await Deno.readTextFile(`${bundle}/config.json`));
        posthooks.process.args = ["true"];
        posthooks.hooks = {
          poststart: [{ path: "/bin/sh", args: ["sh", "-c", `cat > ${out("poststart")}`] }],
          poststop: [{ path: "/bin/sh", args: ["sh", "-c", `cat > ${out("poststop")}`] }],
        };
        await Deno.writeTextFile(
          `${hb2}/config.json`,
          JSON.stringify({ ...posthooks, root: { path: w.rootfs } }),
        );
        const pp = w.spawn(["--root", link, "create", "--bundle", hb2, "post4"]);
        assert.equal((await pp.status).code, 0);
        await pp.stdout.cancel().catch(() => {});
        await pp.stderr.cancel().catch(() => {});
        assert.equal((await cli(["start", "post4"])).code, 0);
        const started = JSON.parse(await Deno.readTextFile(out("poststart")));
        assert.deepEqual([started.id, started.status], ["post4", "running"]);
        for (let i = 0; i < 100; i++) {
          const st = await cli(["state", "post4"]);
          if (st.code === 0 && JSON.parse(st.stdout).status === "stopped") break;
          await new Promise((r) => setTimeout(r, 200));
        }
        const del4 = await cli(["delete", "post4"]);
        assert.equal(del4.code, 0, del4.stderr);
        const stopped = JSON.parse(await Deno.readTextFile(out("poststop")));
        assert.deepEqual([stopped.id, stopped.status, stopped.pid], ["post4", "stopped", 0]);

        // 5. `cocoon create` killed while its VM boots: delete --force ends the holder still creating.
        const kp = w.spawn(["--root", link, "create", "--bundle", bundle, "cut5"]);
        await new Promise((r) => setTimeout(r, 3000));
        kp.kill("SIGKILL");
        await kp.status;
        await kp.stdout.cancel().catch(() => {});
        await kp.stderr.cancel().catch(() => {});
        const kd = await cli(["delete", "--force", "cut5"]);
        assert.equal(kd.code, 0, kd.stderr);
        for (let i = 0; i < 100 && (await pidsMatching(`${real}`)).length > 0; i++) {
          await new Promise((r) => setTimeout(r, 100));
        }
        assert.deepEqual(await pidsMatching(real), [], "no holder, QEMU or virtiofsd left");
        assert.deepEqual(await mountsUnder(real), []);
        assert.deepEqual((await Array.fromAsync(Deno.readDir(`${real}/sandboxes`))).map((e) => e.name), []);
        assert.deepEqual({ rootfs: await treeDigest(w.rootfs), vol: await treeDigest(vol) }, before);
      } finally {
        for (const pid of await pidsMatching(`${real}/`)) {
          try {
            Deno.kill(pid, "SIGKILL");
          } catch { /* gone */ }
        }
        for (const m of (await mountsUnder(real)).reverse()) {
          await new Deno.Command("umount", { args: ["-l", m] }).output();
        }
        await Deno.remove(real, { recursive: true }).catch(() => {});
      }
    });
  },
});
