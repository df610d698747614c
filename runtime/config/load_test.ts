import assert from "node:assert/strict";
import { BUILTIN_NAME, loadConfig, mergeRaw } from "./load.ts";

const noEnv = () => undefined;
const none = "/proc/nonexistent/cocoon.toml";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "cocoon-config-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("loadConfig() falls back to the built-in QEMU configuration", async () => {
  const cfg = await loadConfig({ env: noEnv, systemPath: none });
  assert.equal(cfg.source.file, BUILTIN_NAME);
  assert.equal(cfg.hypervisor.name, "qemu");
  assert.equal(cfg.hypervisor.path, "/usr/bin/qemu-system-x86_64");
  assert.equal(cfg.hypervisor.defaultMemory, 512);
  assert.equal(cfg.runtime.internetworkingModel, "tcfilter");
  assert.equal(cfg.factory.vmCacheNumber, 0);
  assert.equal(cfg.agent.dialTimeoutSeconds, 45);
});

Deno.test("loadConfig() prefers --config over COCOON_CONFIG over the system file", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/a.toml`, "[hypervisor.qemu]\ndefault_memory = 1024\n");
    await Deno.writeTextFile(`${dir}/b.toml`, "[hypervisor.qemu]\ndefault_memory = 2048\n");
    await Deno.writeTextFile(`${dir}/sys.toml`, "[hypervisor.qemu]\ndefault_memory = 4096\n");
    const env = (n: string) => (n === "COCOON_CONFIG" ? `${dir}/b.toml` : undefined);
    assert.equal(
      (await loadConfig({ path: `${dir}/a.toml`, env, systemPath: `${dir}/sys.toml` })).hypervisor
        .defaultMemory,
      1024,
    );
    assert.equal((await loadConfig({ env, systemPath: `${dir}/sys.toml` })).hypervisor.defaultMemory, 2048);
    assert.equal(
      (await loadConfig({ env: noEnv, systemPath: `${dir}/sys.toml` })).hypervisor.defaultMemory,
      4096,
    );
  });
});

Deno.test("loadConfig() merges configuration.d drop-ins in lexical order", async () => {
  await withDir(async (dir) => {
    await Deno.mkdir(`${dir}/configuration.d`);
    await Deno.writeTextFile(
      `${dir}/c.toml`,
      '[hypervisor.qemu]\ndefault_memory = 1024\nkernel_params = "a=1"\n',
    );
    await Deno.writeTextFile(
      `${dir}/configuration.d/20-b.toml`,
      "[hypervisor.qemu]\ndefault_memory = 3072\n",
    );
    await Deno.writeTextFile(
      `${dir}/configuration.d/10-a.toml`,
      "[hypervisor.qemu]\ndefault_memory = 2048\ndefault_vcpus = 2\n",
    );
    await Deno.writeTextFile(`${dir}/configuration.d/README`, "not toml");
    const cfg = await loadConfig({ path: `${dir}/c.toml`, env: noEnv });
    assert.equal(cfg.hypervisor.defaultMemory, 3072);
    assert.equal(cfg.hypervisor.defaultVcpus, 2);
    assert.equal(cfg.hypervisor.kernelParams, "a=1");
    assert.deepEqual(cfg.source.dropIns, [
      `${dir}/configuration.d/10-a.toml`,
      `${dir}/configuration.d/20-b.toml`,
    ]);
  });
});

Deno.test("loadConfig() names the file and key of a value with the wrong type", async () => {
  await withDir(async (dir) => {
    const f = `${dir}/bad.toml`;
    await Deno.writeTextFile(f, '[hypervisor.qemu]\ndefault_memory = "lots"\n');
    await assert.rejects(loadConfig({ path: f, env: noEnv }), (e: Error & { code?: string }) => {
      assert.equal(e.code, "InvalidArgument");
      assert.match(e.message, new RegExp(`"${f}"`));
      assert.match(
        e.message,
        /key "hypervisor\.qemu\.default_memory" must be a number: current value is "lots"/,
      );
      return true;
    });
  });
});

Deno.test("loadConfig() refuses an unknown key and an out-of-range value, naming them", async () => {
  await withDir(async (dir) => {
    const f = `${dir}/bad.toml`;
    await Deno.writeTextFile(f, '[runtime]\ninternetworking_modle = "none"\n');
    await assert.rejects(
      loadConfig({ path: f, env: noEnv }),
      /key "runtime\.internetworking_modle" is not a known setting/,
    );
    await Deno.writeTextFile(f, "[hypervisor.qemu]\ndefault_memory = 8\n");
    await assert.rejects(
      loadConfig({ path: f, env: noEnv }),
      /key "hypervisor\.qemu\.default_memory" must be >=64: current value is 8/,
    );
    await Deno.writeTextFile(f, '[hypervisor.qemu]\nshared_fs = "nfs"\n');
    await assert.rejects(loadConfig({ path: f, env: noEnv }), /shared_fs" must be one of/);
  });
});

Deno.test("loadConfig() reports TOML syntax errors with file and line", async () => {
  await withDir(async (dir) => {
    const f = `${dir}/broken.toml`;
    await Deno.writeTextFile(f, "[runtime]\nenable_debug = \n");
    await assert.rejects(loadConfig({ path: f, env: noEnv }), (e: Error) => {
      assert.match(e.message, new RegExp(`Cannot parse config "${f}" at line 2`));
      return true;
    });
    await assert.rejects(loadConfig({ path: `${dir}/missing.toml`, env: noEnv }), { code: "NotFound" });
  });
});

Deno.test("loadConfig() requires runtime.hypervisor when several hypervisor tables exist", async () => {
  await withDir(async (dir) => {
    const f = `${dir}/two.toml`;
    await Deno.writeTextFile(f, "[hypervisor.qemu]\n[hypervisor.firecracker]\n");
    await assert.rejects(loadConfig({ path: f, env: noEnv }), /set key "runtime\.hypervisor"/);
    await Deno.writeTextFile(
      f,
      '[runtime]\nhypervisor = "firecracker"\n[hypervisor.qemu]\n[hypervisor.firecracker]\n',
    );
    const cfg = await loadConfig({ path: f, env: noEnv });
    assert.equal(cfg.hypervisor.name, "firecracker");
    assert.equal(cfg.hypervisor.path, "/usr/bin/firecracker");
  });
});

Deno.test({
  name: "mergeRaw() merges tables and replaces arrays and scalars",
  permissions: "none",
  fn() {
    assert.deepEqual(
      mergeRaw({ a: { b: 1, c: [1, 2] }, d: 1 }, { a: { c: [3] }, d: 2, e: { f: 1 } }),
      { a: { b: 1, c: [3] }, d: 2, e: { f: 1 } },
    );
  },
});
