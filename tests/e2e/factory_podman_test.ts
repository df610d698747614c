/**
 * A front door with templates on: `cocoon factory init` builds the template (progress on stderr),
 * `cocoon factory status` lists it, then podman (with Cocoon as its OCI runtime) runs containers
 * whose VMs are clones (their QEMU maps the template memory privately and was restored with
 * `-incoming defer`), each with its own entropy; `cocoon factory destroy` removes the template.
 */
import assert from "node:assert/strict";
import { hostCanBoot, type OciWorld, pidsMatching, withOciWorld } from "./oci_world.ts";

async function hasPodman(): Promise<boolean> {
  const r = await new Deno.Command("podman", { args: ["--version"], stdout: "null", stderr: "null" }).output()
    .catch(() => null);
  return r !== null && r.success;
}

const canRun = await hostCanBoot() && await hasPodman();
const opts = { ignore: !canRun, sanitizeResources: false, sanitizeOps: false };

type Podman = (args: string[]) => Promise<{ code: number; stdout: string; stderr: string }>;

async function podmanFor(w: OciWorld): Promise<Podman> {
  const launcher = await w.launcher();
  const base = ["--root", `${w.dir}/podman/storage`, "--runroot", `${w.dir}/podman/run`, "--tmpdir"];
  base.push(`${w.dir}/podman/tmp`, "--cgroup-manager", "cgroupfs", "--events-backend", "file");
  base.push("--runtime", launcher);
  return async (args) => {
    const out = await new Deno.Command("podman", {
      args: [...base, ...args],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(300_000),
    }).output();
    const dec = new TextDecoder();
    return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  };
}

const RUN = ["run", "--network", "none", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"];

async function cmdlineOf(pid: number): Promise<string> {
  return (await Deno.readTextFile(`/proc/${pid}/cmdline`).catch(() => "")).replaceAll("\0", " ");
}

Deno.test({
  name: "cocoon factory init/status/destroy, and podman run on template clones with their own entropy",
  ...opts,
  async fn() {
    await withOciWorld(async (w) => {
      const tmpl = `${w.dir}/tmpl`;
      await Deno.writeTextFile(w.config, `\n[factory]\nenable_template = true\ntemplate_path = "${tmpl}"\n`, {
        append: true,
      });
      const init = await w.cocoon(["factory", "init"]);
      assert.equal(init.code, 0, init.stderr);
      assert.match(init.stderr, /agent ready/);
      assert.match(init.stdout, /^factory: template\n {2}[0-9a-f]{32} {2}ready {2}512 MiB/);
      const status = await w.cocoon(["factory", "status", "--json"]);
      assert.equal(JSON.parse(status.stdout).items[0].state, "ready");

      const podman = await podmanFor(w);
      const run = await podman([...RUN, "-d", "--rootfs", w.rootfs, "sleep", "600"]);
      assert.equal(run.code, 0, run.stderr);
      const qemu = await pidsMatching(w.root, "qemu-system");
      assert.equal(qemu.length, 1);
      const argv = await cmdlineOf(qemu[0]!);
      assert.match(
        argv,
        /memory-backend-file,id=ram0,size=512M,mem-path=[^ ]*\/tmpl\/[0-9a-f]{32}\/memory,share=off/,
      );
      assert.match(argv, / -incoming defer /);
      assert.equal((await podman(["rm", "-f", run.stdout.trim()])).code, 0);

      const random: string[] = [];
      for (let i = 0; i < 2; i++) {
        const r = await podman([
          ...RUN,
          "--rm",
          "--rootfs",
          w.rootfs,
          "sh",
          "-c",
          "head -c 16 /dev/urandom | od -An -tx1",
        ]);
        assert.equal(r.code, 0, r.stderr);
        random.push(r.stdout.trim());
      }
      assert.match(random[0]!, /^[0-9a-f ]{47}$/);
      assert.notEqual(random[0], random[1]);
      assert.deepEqual(await pidsMatching(w.root, "qemu-system"), []);

      const destroy = await w.cocoon(["factory", "destroy"]);
      assert.equal(destroy.code, 0, destroy.stderr);
      assert.deepEqual([...Deno.readDirSync(tmpl)], []);
      const mounts = await Deno.readTextFile("/proc/self/mountinfo");
      assert.ok(!mounts.includes(tmpl), "the template tmpfs is unmounted");
    });
  },
});
