/**
 * VM templates on real QEMU (TCG here): the first sandbox with `[factory] enable_template` builds
 * the template of its VM shape, the next ones are clones. Two clones running side by side must not
 * share entropy, MAC addresses, clocks, hostnames or files; the template's memory file is never
 * written by a clone; delete leaves no QEMU, socket, mount or state dir; `cocoon factory destroy`
 * removes the template and its tmpfs. Prints build time, clone vs cold create time and PSS.
 */
import assert from "node:assert/strict";
import { makeBusyboxRootfs } from "../../agent/testing/rootfs.ts";
import { Sandbox } from "../../runtime/sandbox/mod.ts";
import { hostNetSys } from "../../runtime/sys/ip_command.ts";
import { createTestNetns } from "../../runtime/sys/_ip_testing.ts";
import {
  guestImageWith9p,
  hostCanBoot,
  logLines,
  mountsUnder,
  qemuPids,
  scrub,
  socketsUnder,
} from "./sandbox_util.ts";
import { factoryConfig, factoryRuntime, pssKiB, runProbe } from "./factory_world.ts";
import { cocoonBin } from "../utils/program.ts";

const canRun = await hostCanBoot();
const opts = { ignore: !canRun, sanitizeResources: false, sanitizeOps: false };
const sys = hostNetSys();

const PROBE = [
  "head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n'; echo",
  "date +%s",
  "hostname",
  "{ ls -A /tmp; ls /mark-* 2>/dev/null; } | tr '\\n' ' '; echo",
  "echo secret > /tmp/own-$0; echo secret > /mark-$0",
].join("; ");

async function sha256File(path: string): Promise<string> {
  const out = await new Deno.Command("sha256sum", { args: [path], stdout: "piped" }).output();
  return new TextDecoder().decode(out.stdout).split(" ")[0] ?? "";
}

Deno.test({
  name:
    "template factory: two clones differ in entropy, MACs, hostname, files; clocks right; clean delete and destroy",
  ...opts,
  async fn() {
    const image = await guestImageWith9p();
    await using ns1 = await createTestNetns(sys);
    await using ns2 = await createTestNetns(sys);
    const dir = await Deno.makeTempDir({ prefix: "cocoon-e2e-fx-" });
    const tag = crypto.randomUUID().slice(0, 6);
    const ids = [`fxa-${tag}`, `fxb-${tag}`];
    const sbs: Sandbox[] = [];
    try {
      const cfg = factoryConfig(dir, image, { template: true, model: "tcfilter" });
      const rt = await factoryRuntime(cfg);
      const rootfs = await Promise.all(ids.map(async (id) => {
        await Deno.mkdir(`${dir}/${id}`);
        return await makeBusyboxRootfs(`${dir}/${id}`);
      }));

      // First sandbox: builds the template on demand, then clones it.
      let t0 = performance.now();
      sbs.push(await Sandbox.create(rt, { id: ids[0]!, netns: ns1.pod }));
      const firstMs = performance.now() - t0;
      const keys = [...Deno.readDirSync(`${dir}/tmpl`)].filter((e) => /^[0-9a-f]{32}$/.test(e.name));
      assert.equal(keys.length, 1);
      const tdir = `${dir}/tmpl/${keys[0]!.name}`;
      const meta = JSON.parse(await Deno.readTextFile(`${tdir}/meta.json`));
      assert.equal(meta.memoryMiB, 256);
      assert.ok((await mountsUnder(tdir)).includes(tdir), "the template lives on its own tmpfs");
      const memHash = await sha256File(`${tdir}/memory`);

      // Second sandbox: a clone only.
      t0 = performance.now();
      sbs.push(await Sandbox.create(rt, { id: ids[1]!, netns: ns2.pod }));
      const cloneMs = performance.now() - t0;

      const outs: string[][] = [];
      for (const [i, sb] of sbs.entries()) {
        const before = Date.now() / 1000;
        const out = await runProbe(sb, `${ids[i]}-p`, rootfs[i]!, PROBE.replaceAll("$0", ids[i]!));
        const lines = out.trim().split("\n");
        const guest = Number(lines[1]);
        assert.ok(guest >= Math.floor(before) - 2 && guest <= Date.now() / 1000 + 2, `guest clock ${guest}`);
        outs.push(lines);
      }
      const [a, b] = outs;
      assert.ok(a !== undefined && b !== undefined);
      assert.match(a[0]!, /^[0-9a-f]{64}$/);
      assert.notEqual(a[0], b[0], "both clones read the same bytes from /dev/urandom");
      assert.equal(a[2], ids[0]);
      assert.equal(b[2], ids[1]);
      // Nothing of the other clone's (nor of the template's) files in a clone.
      assert.equal(a[3]?.trim() ?? "", "");
      assert.equal(b[3]?.trim() ?? "", "");
      assert.ok((await Deno.stat(`${rootfs[0]}/mark-${ids[0]}`)).isFile);
      await assert.rejects(Deno.stat(`${rootfs[1]}/mark-${ids[0]}`), Deno.errors.NotFound);
      // A second probe in clone A sees its own files only.
      const again = await runProbe(sbs[0]!, `${ids[0]}-q`, rootfs[0]!, "ls /mark-* | tr '\\n' ' '");
      assert.equal(again.trim(), `/mark-${ids[0]}`);

      const macs = await Promise.all(
        sbs.map(async (sb) => (await sb.act({ kind: "list-interfaces" })).find((i) => i.name !== "lo")?.mac),
      );
      assert.ok(macs[0] !== undefined && macs[1] !== undefined, "each clone has its hot-plugged NIC");
      assert.notEqual(macs[0], macs[1]);

      assert.equal(await sha256File(`${tdir}/memory`), memHash, "a clone wrote to the template's memory");
      const pss = await Promise.all(ids.map(async (id) => await pssKiB((await qemuPids(id))[0]!)));

      for (const sb of sbs.splice(0)) await sb.act({ kind: "delete" });
      for (const id of ids) assert.deepEqual(await qemuPids(id), []);
      assert.deepEqual(await socketsUnder(`${dir}/run`), []);
      assert.deepEqual(await mountsUnder(`${dir}/run`), []);
      assert.deepEqual((await Array.fromAsync(Deno.readDir(`${dir}/run/sandboxes`))).length, 0);

      // `cocoon factory destroy` with this configuration removes the template and its tmpfs.
      const cfgFile = `${dir}/cocoon.toml`;
      await Deno.writeTextFile(cfgFile, tomlOf(dir, image));
      const destroy = await new Deno.Command(cocoonBin(), {
        args: [
          "factory",
          "destroy",
        ],
        env: { COCOON_CONFIG: cfgFile },
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(destroy.code, 0, new TextDecoder().decode(destroy.stderr));
      assert.deepEqual(await mountsUnder(dir), []);
      assert.deepEqual([...Deno.readDirSync(`${dir}/tmpl`)], []);
      // deno-lint-ignore no-console
      console.log(
        `template build ${meta.buildMs} ms (cold boot to agent ${meta.bootMs} ms); first sandbox ${
          Math.round(firstMs)
        } ms; clone sandbox ${Math.round(cloneMs)} ms; clone QEMU PSS ${
          pss.map((p) => Math.round(p / 1024))
        } MiB`,
      );
    } catch (e) {
      // deno-lint-ignore no-console
      console.error(`--- log tail ---\n${logLines.slice(-60).join("")}`);
      throw e;
    } finally {
      for (const sb of sbs) await sb.act({ kind: "delete", opts: { force: true } }).catch(() => {});
      for (const id of ids) await scrub(dir, id);
      await scrub(dir, "tmpl-");
      await Deno.remove(dir, { recursive: true });
    }
  },
});

function tomlOf(dir: string, image: { kernel: string; initrd: string; rootfs: string | null }): string {
  return `[hypervisor.qemu]
kernel = "${image.kernel}"
initrd = "${image.initrd}"
image = "${image.rootfs ?? ""}"
[runtime]
state_dir = "${dir}/run"
[factory]
enable_template = true
template_path = "${dir}/tmpl"
`;
}
