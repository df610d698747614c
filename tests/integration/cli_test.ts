import assert from "node:assert/strict";
import { cocoon } from "../utils/cli.ts";

async function withConfig(toml: string, fn: (path: string, dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "cocoon-cli-" });
  try {
    await Deno.writeTextFile(`${dir}/configuration.toml`, toml);
    await fn(`${dir}/configuration.toml`, dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("cocoon --version and --help answer, an unknown command fails with exit 2", async () => {
  const v = await cocoon(["--version"]);
  assert.equal(v.code, 0);
  assert.match(v.stdout, /^cocoon version \d+\.\d+\.\d+/);
  const h = await cocoon(["--help"]);
  assert.equal(h.code, 0);
  assert.match(h.stdout, /Usage: cocoon \[global options\] <command>/);
  const u = await cocoon(["frobnicate"]);
  assert.equal(u.code, 2);
  assert.match(u.stderr, /Unknown command "frobnicate"/);
});

Deno.test("cocoon env prints the effective configuration as TOML and JSON", async () => {
  await withConfig("[hypervisor.qemu]\ndefault_memory = 768\n", async (path) => {
    const t = await cocoon(["--config", path, "env"]);
    assert.equal(t.code, 0, t.stderr);
    assert.match(t.stdout, /default_memory = 768/);
    assert.match(t.stdout, /internetworking_model = "tcfilter"/);
    const j = await cocoon(["env", "--json"], { env: { COCOON_CONFIG: path } });
    assert.equal(j.code, 0, j.stderr);
    const parsed = JSON.parse(j.stdout);
    assert.equal(parsed.source.file, path);
    assert.equal(parsed.config.hypervisor.qemu.default_memory, 768);
  });
});

Deno.test("cocoon with a bad config names the file and key and exits 2", async () => {
  await withConfig('[hypervisor.qemu]\ndefault_vcpus = "two"\n', async (path) => {
    const r = await cocoon(["--config", path, "env"]);
    assert.equal(r.code, 2);
    assert.match(
      r.stderr,
      new RegExp(`Cannot load config "${path}": key "hypervisor\\.qemu\\.default_vcpus" must be a number`),
    );
  });
});

Deno.test("cocoon check fails naming the missing guest image and what to run", async () => {
  await withConfig(
    '[hypervisor.qemu]\nkernel = "/nonexistent/vmlinuz"\ninitrd = "/nonexistent/initrd"\nimage = ""\n',
    async (path) => {
      const r = await cocoon(["--config", path, "check", "--json"]);
      assert.equal(r.code, 1);
      const report = JSON.parse(r.stdout);
      assert.equal(report.ok, false);
      const kernel = report.checks.find((c: { name: string }) => c.name === "guest kernel");
      assert.equal(kernel.status, "fail");
      assert.match(kernel.fix, /cocoon guest build/);
    },
  );
});

Deno.test("cocoon check reports vsock and the accelerator as found on this host", async () => {
  await withConfig('[hypervisor.qemu]\nimage = ""\n', async (path) => {
    const r = await cocoon(["--config", path, "check", "--json"]);
    const report = JSON.parse(r.stdout) as { checks: { name: string; status: string; detail: string }[] };
    const vsock = report.checks.find((c) => c.name === "vhost-vsock");
    assert.ok(vsock);
    let hasVsock = true;
    try {
      (await Deno.open("/dev/vhost-vsock", { read: true, write: true })).close();
    } catch {
      hasVsock = false;
    }
    assert.equal(vsock.status, hasVsock ? "ok" : "info");
    const accel = report.checks.find((c) => c.name === "accelerator");
    assert.ok(accel, `no accelerator line in ${r.stdout}`);
    const pvm = await Deno.stat("/sys/module/kvm_pvm").then(() => true, () => false);
    if (pvm) assert.match(accel.detail, /PVM.*TCG/);
  });
});
