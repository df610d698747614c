import assert from "node:assert/strict";
import { parse } from "smol-toml";
import { benchConfigToml, parseSmapsRollup, readUntil } from "./pod_env.ts";

/** A plain object of a parsed TOML table (smol-toml makes null-prototype ones). */
const plain = (x: unknown): unknown => JSON.parse(JSON.stringify(x));

const image = {
  kernel: "/img/vmlinuz",
  initrd: "/img/initrd.img",
  rootfs: "/img/rootfs.erofs",
};

Deno.test({
  name: "benchConfigToml() has no [factory] table for cold starts",
  permissions: "none",
  fn() {
    const t = parse(benchConfigToml("/d/cold", image, { kind: "cold" }, "/shm/t"));
    assert.deepEqual(Object.keys(t).sort(), ["agent", "hypervisor", "runtime"]);
    assert.deepEqual(plain(t["runtime"]), {
      state_dir: "/d/cold/run",
      store: "fs",
      internetworking_model: "none",
    });
  },
});

Deno.test({
  name: "benchConfigToml() switches templates on, and the cache with its size",
  permissions: "none",
  fn() {
    const tpl = parse(benchConfigToml("/d/t", image, { kind: "template" }, "/shm/t"));
    assert.deepEqual(plain(tpl["factory"]), { enable_template: true, template_path: "/shm/t" });
    const cache = parse(benchConfigToml("/d/c", image, { kind: "cache", vms: 3 }, "/shm/t"));
    assert.deepEqual(plain(cache["factory"]), {
      enable_template: true,
      template_path: "/shm/t",
      vm_cache_number: 3,
    });
  },
});

Deno.test({
  name: "parseSmapsRollup() reads Pss and Rss in KiB, 0 when absent",
  permissions: "none",
  fn() {
    const text =
      "55d0-7ffe ---p 00000000 00:00 0  [rollup]\nRss:              102400 kB\nPss:               51200 kB\n" +
      "Pss_Anon:          40000 kB\n";
    assert.deepEqual(parseSmapsRollup(text), { pss: 51200, rss: 102400 });
    assert.deepEqual(parseSmapsRollup(""), { pss: 0, rss: 0 });
  },
});

Deno.test({
  name: "readUntil() returns once the needle arrived, across chunks, and fails when the stream ends first",
  permissions: "none",
  async fn() {
    const enc = new TextEncoder();
    const chunks = (parts: string[]) => ReadableStream.from(parts.map((p) => enc.encode(p)));
    assert.equal(await readUntil(chunks(["a", "u", "p\n", "more"]), "up\n"), "aup\n");
    await assert.rejects(
      readUntil(chunks(["nope"]), "up\n"),
      /Cannot read "up": the stream ended after "nope"/,
    );
  },
});
