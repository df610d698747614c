/**
 * The VM cache on real QEMU: `cocoon factory init` with `vm_cache_number = 1` builds the template,
 * starts the detached cache and waits for its first VM; a sandbox without a network takes that VM
 * (its directory becomes the sandbox directory), gets its own hostname and entropy, runs a
 * container, and is deleted cleanly; the cache refills; `cocoon factory destroy` stops the cache
 * with its VMs and removes the template.
 */
import assert from "node:assert/strict";
import { makeBusyboxRootfs } from "../../agent/testing/rootfs.ts";
import { Sandbox } from "../../runtime/sandbox/mod.ts";
import {
  guestImageWith9p,
  hostCanBoot,
  logLines,
  mountsUnder,
  pidsMatching,
  scrub,
  socketsUnder,
} from "./sandbox_util.ts";
import { factoryConfig, factoryRuntime, runProbe } from "./factory_world.ts";
import { cocoonBin } from "../utils/program.ts";

const canRun = await hostCanBoot();
const opts = { ignore: !canRun, sanitizeResources: false, sanitizeOps: false };

function cli(args: string[], config: string): Promise<Deno.CommandOutput> {
  return new Deno.Command(cocoonBin(), {
    args: [...args],
    env: { COCOON_CONFIG: config },
    stdout: "piped",
    stderr: "piped",
  }).output();
}

Deno.test({
  name: "VM cache: factory init fills it, a sandbox takes a cached clone, it refills, destroy stops it",
  ...opts,
  async fn() {
    const image = await guestImageWith9p();
    const dir = await Deno.makeTempDir({ prefix: "cocoon-e2e-fxc-" });
    const id = `fxc-${crypto.randomUUID().slice(0, 6)}`;
    const config = `${dir}/cocoon.toml`;
    let sb: Sandbox | undefined;
    const dec = new TextDecoder();
    try {
      await Deno.writeTextFile(
        config,
        `[hypervisor.qemu]\nkernel = "${image.kernel}"\ninitrd = "${image.initrd}"\nimage = "${
          image.rootfs ?? ""
        }"\n` +
          `accelerator = "tcg"\ndefault_memory = 256\ndefault_maxmemory = 512\ndefault_maxvcpus = 1\n` +
          `shared_fs = "virtio-9p"\n[runtime]\nstate_dir = "${dir}/run"\nstore = "fs"\ninternetworking_model = "none"\n` +
          `[agent]\ndial_timeout = 120\n[factory]\nenable_template = true\ntemplate_path = "${dir}/tmpl"\n` +
          `vm_cache_number = 1\nvm_cache_endpoint = "${dir}/cache.sock"\n`,
      );
      const init = await cli(["factory", "init"], config);
      assert.equal(init.code, 0, dec.decode(init.stderr));
      assert.match(dec.decode(init.stdout), /cache: 1\/1 VMs ready \(template\)/);

      const base = factoryConfig(dir, image, { template: true });
      const rt = await factoryRuntime({
        ...base,
        factory: { ...base.factory, vmCacheNumber: 1, vmCacheEndpoint: `${dir}/cache.sock` },
      });
      await Deno.mkdir(`${dir}/${id}`);
      const rootfs = await makeBusyboxRootfs(`${dir}/${id}`);
      const t0 = performance.now();
      sb = await Sandbox.create(rt, { id });
      const createMs = performance.now() - t0;
      assert.ok(
        logLines.some((l) => l.includes('"vm taken from the cache"') && l.includes(id)),
        "from the cache",
      );
      const out = await runProbe(sb, `${id}-p`, rootfs, "hostname; head -c 16 /dev/urandom | od -An -tx1");
      const [host, random] = out.trim().split("\n");
      assert.equal(host, id);
      assert.match(random?.trim() ?? "", /^[0-9a-f ]{47}$/);

      const [qemu] = sb.pids();
      assert.ok(qemu !== undefined);
      assert.match(await Deno.readTextFile(`/proc/${qemu}/cmdline`), /cache-[0-9a-f]{8}/, "a cached VM");
      await sb.act({ kind: "delete" });
      sb = undefined;
      await assert.rejects(Deno.stat(`/proc/${qemu}`), Deno.errors.NotFound);
      assert.deepEqual(await socketsUnder(`${dir}/run/sandboxes`), []);
      for (let i = 0; i < 600; i++) {
        const st = await cli(["factory", "status", "--json"], config);
        if (JSON.parse(dec.decode(st.stdout)).cache?.ready === 1) break;
        await new Promise((r) => setTimeout(r, 500));
      }
      const destroy = await cli(["factory", "destroy"], config);
      assert.equal(destroy.code, 0, dec.decode(destroy.stderr));
      assert.match(dec.decode(destroy.stderr), /stopped the VM cache/);
      assert.deepEqual(await pidsMatching((c) => c.includes("qemu-system") && c.includes(dir)), []);
      assert.deepEqual(await mountsUnder(dir), []);
      assert.deepEqual([...Deno.readDirSync(`${dir}/run/cache`)], []);
      // deno-lint-ignore no-console
      console.log(`sandbox from the VM cache ready in ${Math.round(createMs)} ms`);
    } catch (e) {
      const cacheLog = await Deno.readTextFile(`${dir}/run/factory-cache.log`).catch(() => "");
      // deno-lint-ignore no-console
      console.error(
        `--- log tail ---\n${logLines.slice(-40).join("")}\n--- cache log ---\n${cacheLog.slice(-4000)}`,
      );
      throw e;
    } finally {
      if (sb !== undefined) await sb.act({ kind: "delete", opts: { force: true } }).catch(() => {});
      await cli(["factory", "destroy"], config).catch(() => {});
      await scrub(dir, id);
      await scrub(dir, "cache-");
      await Deno.remove(dir, { recursive: true });
    }
  },
});
