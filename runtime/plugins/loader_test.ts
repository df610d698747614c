import assert from "node:assert/strict";
import { loadPlugin } from "./loader.ts";
import { createRegistry } from "./registry.ts";
import { allowFlags } from "./permissions.ts";
import { fileDigest } from "./confined.ts";
import { createLogger, nullSink } from "../log/logger.ts";

const fixtures = new URL("../../tests/fixtures/plugins/", import.meta.url).pathname;
const ctx = { log: createLogger({ sink: nullSink }), config: {}, runDir: "/nonexistent" };
const files = {
  "needs-qemu": `${fixtures}needs_qemu.ts`,
  "no-manifest": `${fixtures}no_manifest.ts`,
  "bad": `${fixtures}bad_permissions.ts`,
};
const pins = Object.fromEntries(
  await Promise.all(Object.entries(files).map(async ([k, f]) => [k, await fileDigest(f)] as const)),
);
const reg = createRegistry(files, pins);

Deno.test({
  name: "loadPlugin() loads a plugin whose declared run permission is granted",
  permissions: { read: true, run: ["qemu-system-x86_64"] },
  async fn() {
    const p = await loadPlugin(reg, "hypervisor", "needs-qemu", ctx);
    assert.equal(p.manifest.name, "needs-qemu");
    assert.deepEqual(p.instance, { created: true });
  },
});

Deno.test({
  name: "loadPlugin() refuses a plugin whose run permission the process lacks, naming it",
  permissions: { read: true, run: false },
  async fn() {
    await assert.rejects(loadPlugin(reg, "hypervisor", "needs-qemu", ctx), (e: Error & { code?: string }) => {
      assert.equal(e.code, "PermissionDenied");
      assert.match(
        e.message,
        /Cannot load plugin "needs-qemu" as permission "run" is missing: requested "qemu-system-x86_64"/,
      );
      return true;
    });
  },
});

Deno.test({
  name: "loadPlugin() refuses malformed modules, wrong kinds and unknown names",
  permissions: { read: true },
  async fn() {
    await assert.rejects(loadPlugin(reg, "network", "no-manifest", ctx), /manifest is missing/);
    await assert.rejects(
      loadPlugin(reg, "network", "bad", ctx),
      /"permissions\.root" is not a Deno permission/,
    );
    await assert.rejects(
      loadPlugin(reg, "network", "needs-qemu", ctx),
      /its manifest says kind "hypervisor"/,
    );
    await assert.rejects(
      loadPlugin(reg, "network", "nope", ctx),
      /Cannot find network plugin "nope": known network plugins are/,
    );
    const missing = createRegistry({ ghost: "/proc/nonexistent/mod.ts" });
    await assert.rejects(loadPlugin(missing, "store", "ghost", ctx), { code: "NotFound" });
  },
});

Deno.test({
  name: "loadPlugin() creates the built-in none network plugin",
  permissions: { read: true },
  async fn() {
    const p = await loadPlugin(createRegistry(), "network", "none", ctx);
    assert.equal(p.manifest.kind, "network");
  },
});

Deno.test({
  name: "allowFlags() renders a permission object as --allow-* flags",
  permissions: "none",
  fn() {
    assert.deepEqual(allowFlags({ run: ["ip", "qemu-system-x86_64"], read: ["/run"], net: true }), [
      "--allow-run=ip,qemu-system-x86_64",
      "--allow-read=/run",
      "--allow-net",
    ]);
  },
});
