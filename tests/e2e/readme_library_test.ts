/**
 * The README's library snippet, pasted as is into a program in a directory of its own (no
 * deno.json) and run with `deno run -A`: it imports the installed library (PREFIX/lib/cocoon/mod.js),
 * boots a real microVM, runs `echo hi` and deletes the sandbox. Only the library's location (the
 * test prefix), the rootfs (a busybox one made here) and the state directory differ.
 */
import assert from "node:assert/strict";
import { makeBusyboxRootfs } from "../../agent/testing/rootfs.ts";
import { buildGuestImage } from "../../runtime/guest/mod.ts";
import { hostCanBoot, pidsMatching } from "./oci_world.ts";
import { installedLibrary } from "../utils/program.ts";
import { readmeBlock } from "../utils/readme.ts";

const canRun = await hostCanBoot();

Deno.test({
  name: "the README's library snippet runs from another directory against the installed library",
  ignore: !canRun,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const snippet = await readmeBlock("ts", "createSandbox");
    assert.match(snippet, /from "\/usr\/local\/lib\/cocoon\/mod\.js"/);
    const image = await buildGuestImage({ setCurrent: false });
    const dir = await Deno.makeTempDir({ prefix: "cocoon-readme-lib-" });
    const root = `/run/crl-${crypto.randomUUID().slice(0, 8)}`;
    try {
      const rootfs = await makeBusyboxRootfs(dir);
      await Deno.writeTextFile(
        `${dir}/configuration.toml`,
        `[hypervisor.qemu]\nkernel = "${image.kernel}"\ninitrd = "${image.initrd}"\nimage = "${
          image.rootfs ?? ""
        }"\ndefault_memory = 512\n[runtime]\nstate_dir = "${root}"\ninternetworking_model = "none"\n[agent]\ndial_timeout = 90\n`,
      );
      await Deno.writeTextFile(
        `${dir}/app.ts`,
        snippet.replace("/usr/local/lib/cocoon/mod.js", installedLibrary())
          .replace("/var/lib/cocoon/demo/rootfs", rootfs),
      );
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "--no-config", "--no-lock", "app.ts"],
        cwd: dir,
        env: { COCOON_CONFIG: `${dir}/configuration.toml` },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const dec = new TextDecoder();
      assert.equal(out.code, 0, dec.decode(out.stderr));
      assert.equal(dec.decode(out.stdout), "hi\n 0\n");
      assert.deepEqual(await pidsMatching(root, "qemu-system"), [], "the snippet deleted its VM");
    } finally {
      for (const pid of await pidsMatching(root)) {
        try {
          Deno.kill(pid, "SIGKILL");
        } catch { /* gone */ }
      }
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      await Deno.remove(root, { recursive: true }).catch(() => {});
    }
  },
});
