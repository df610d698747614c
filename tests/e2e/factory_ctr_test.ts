/**
 * `ctr run` (containerd 1.6 → shim v2 → the Cocoon daemon) with `[factory] enable_template = true`:
 * the first pod builds the template on demand, every pod's VM is a clone (QEMU maps the template's
 * memory privately and was restored with `-incoming defer`), each with its own entropy.
 */
import assert from "node:assert/strict";
import { makeBusyboxRootfs } from "../../agent/testing/rootfs.ts";
import { pidsMentioning, withShimWorld } from "../integration/shim_harness.ts";
import { guestImage, hostCanBoot, PATH, writeConfig } from "./shim_vm_env.ts";
import { cocoonBin } from "../utils/program.ts";

const opts = { ignore: !(await hostCanBoot()), sanitizeResources: false, sanitizeOps: false };

Deno.test({
  name: "ctr run with templates on: pods run in template clones with their own /dev/urandom",
  ...opts,
  async fn() {
    let tmpl = "";
    let config = "";
    await withShimWorld({
      embedded: false,
      prepare: async (dir) => {
        config = await writeConfig(dir, await guestImage());
        tmpl = `${dir}/tmpl`;
        await Deno.writeTextFile(config, `\n[factory]\nenable_template = true\ntemplate_path = "${tmpl}"\n`, {
          append: true,
        });
        return { rootfs: await makeBusyboxRootfs(dir), env: { COCOON_CONFIG: config } };
      },
    }, async (w) => {
      try {
        const random: string[] = [];
        for (const id of ["t-a", "t-b"]) {
          const r = await w.run(PATH, id, ["sh", "-c", "head -c 16 /dev/urandom | od -An -tx1"]);
          assert.equal(r.code, 0, r.stderr);
          random.push(r.stdout.trim());
        }
        assert.match(random[0]!, /^[0-9a-f ]{47}$/);
        assert.notEqual(random[0], random[1]);
        const keys = [...Deno.readDirSync(tmpl)].filter((e) => /^[0-9a-f]{32}$/.test(e.name));
        assert.equal(keys.length, 1, "one template for both pods");

        const d = await w.run(["-d", ...PATH], "t-sleep", ["sleep", "600"]);
        assert.equal(d.code, 0, d.stderr);
        const qemu = await pidsMentioning(w.dir, "qemu-system");
        assert.equal(qemu.length, 1);
        const argv = (await Deno.readTextFile(`/proc/${qemu[0]}/cmdline`)).replaceAll("\0", " ");
        assert.match(argv, /mem-path=[^ ]*\/tmpl\/[0-9a-f]{32}\/memory,share=off/);
        assert.match(argv, / -incoming defer /);
        // the userland image is mapped (DAX) from virtio-pmem, shared with the template and every clone
        assert.match(
          argv,
          /memory-backend-file,id=be-userland,mem-path=[^ ]*rootfs\.erofs,size=\d+,share=on,readonly=on/,
        );
        assert.match(argv, /virtio-pmem-pci,id=dev-userland,memdev=be-userland/);
        assert.equal((await w.ctrd.ctr(["task", "kill", "-s", "SIGKILL", "t-sleep"])).code, 0);
        for (let i = 0; i < 100 && (await w.ctrd.ctr(["task", "rm", "t-sleep"])).code !== 0; i++) {
          await new Promise((r) => setTimeout(r, 200));
        }
        await w.ctrd.ctr(["container", "rm", "t-sleep", "t-a", "t-b"]);
        for (let i = 0; i < 50 && (await pidsMentioning(w.dir, "qemu-system")).length > 0; i++) {
          await new Promise((r) => setTimeout(r, 200));
        }
        assert.deepEqual(await pidsMentioning(w.dir, "qemu-system"), [], "no VM left");
      } finally {
        const destroy = await new Deno.Command(cocoonBin(), {
          args: [
            "factory",
            "destroy",
          ],
          env: { COCOON_CONFIG: config },
          stdout: "null",
          stderr: "piped",
        }).output();
        assert.equal(destroy.code, 0, new TextDecoder().decode(destroy.stderr));
      }
    });
  },
});
