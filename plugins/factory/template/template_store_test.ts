import assert from "node:assert/strict";
import {
  listTemplateKeys,
  parseMeta,
  readMeta,
  type TemplateMeta,
  templatePaths,
  writeMeta,
} from "./template_store.ts";
import { manifest } from "./manifest.ts";

const meta: TemplateMeta = {
  schema: 1,
  key: "0123456789abcdef0123456789abcdef",
  createdAt: "2026-11-23T09:00:00.000Z",
  memoryMiB: 256,
  vcpus: 1,
  kernel: "/g/vmlinuz",
  stateBytes: 493744,
  buildMs: 17000,
  bootMs: 16000,
  ownMount: true,
};

Deno.test({
  name: "parseMeta() accepts a written meta.json and refuses malformed ones",
  permissions: "none",
  fn() {
    assert.deepEqual(parseMeta(JSON.stringify(meta)), meta);
    assert.equal(parseMeta("{"), undefined);
    assert.equal(parseMeta(JSON.stringify({ ...meta, schema: 2 })), undefined);
    assert.equal(parseMeta(JSON.stringify({ ...meta, memoryMiB: "256" })), undefined);
  },
});

Deno.test({
  name: "readMeta() sees a template only when meta.json, memory and state are all there",
  permissions: { read: manifest.permissions.read ?? [], write: manifest.permissions.write ?? [] },
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "cocoon-tmpl-" });
    try {
      const p = templatePaths(root, meta.key);
      await Deno.mkdir(p.dir);
      await Deno.writeTextFile(p.memory, "");
      assert.equal(await readMeta(p), undefined);
      await writeMeta(p, meta);
      assert.equal(await readMeta(p), undefined, "no state file: a half-built template");
      await Deno.writeTextFile(p.state, "x");
      assert.deepEqual(await readMeta(p), meta);
      await Deno.writeTextFile(p.lock, "");
      await Deno.mkdir(`${root}/not-a-template`);
      assert.deepEqual(await listTemplateKeys(root), [meta.key]);
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});
