import assert from "node:assert/strict";
import { applyAnnotations, globMatch } from "./annotations.ts";
import { loadConfig } from "./load.ts";

const base = () => loadConfig({ env: () => undefined, systemPath: "/proc/nonexistent/cocoon.toml" });

Deno.test("applyAnnotations() applies allow-listed io.cocoon and io.katacontainers keys", async () => {
  const cfg = applyAnnotations(await base(), {
    "io.cocoon.config.hypervisor.default_memory": "1024",
    "io.katacontainers.config.hypervisor.default_vcpus": "2",
    "io.cocoon.config.runtime.create_container_timeout": "30",
    "io.cocoon.config.agent.kernel_modules": "dummy, veth",
    "io.kubernetes.cri.sandbox-id": "ignored",
  });
  assert.equal(cfg.hypervisor.defaultMemory, 1024);
  assert.equal(cfg.hypervisor.defaultVcpus, 2);
  assert.equal(cfg.runtime.createContainerTimeoutSeconds, 30);
  assert.deepEqual(cfg.agent.kernelModules, ["dummy", "veth"]);
});

Deno.test("applyAnnotations() rejects a key outside the allow-list with a clear error", async () => {
  const cfg = await base();
  assert.throws(
    () => applyAnnotations(cfg, { "io.cocoon.config.hypervisor.path": "/tmp/evil" }),
    (e: Error & { code?: string }) => {
      assert.equal(e.code, "InvalidArgument");
      assert.match(
        e.message,
        /Cannot apply annotation "io\.cocoon\.config\.hypervisor\.path" as "path" is not in "hypervisor\.qemu\.enable_annotations"/,
      );
      return true;
    },
  );
  assert.throws(
    () => applyAnnotations(cfg, { "io.cocoon.config.hypervisor.no_such_key": "1" }),
    /names no known setting/,
  );
  assert.throws(
    () => applyAnnotations(cfg, { "io.cocoon.config.runtime.state_dir": "/" }),
    /not in "runtime\.enable_annotations"/,
  );
  assert.throws(
    () => applyAnnotations(cfg, { "io.cocoon.config.hypervisor.default_memory": "1g" }),
    /must be a whole number/,
  );
  assert.throws(
    () => applyAnnotations(cfg, { "io.cocoon.config.hypervisor.default_memory": "1" }),
    /default_memory" must be >=64/,
  );
});

Deno.test("applyAnnotations() checks allowed path keys against valid_*_paths", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/c.toml`,
      '[hypervisor.qemu]\nenable_annotations = ["path", "enable_annotations"]\nvalid_hypervisor_paths = ["/usr/bin/qemu-*"]\n',
    );
    const cfg = await loadConfig({ path: `${dir}/c.toml`, env: () => undefined });
    assert.equal(
      applyAnnotations(cfg, { "io.cocoon.config.hypervisor.path": "/usr/bin/qemu-kvm" }).hypervisor.path,
      "/usr/bin/qemu-kvm",
    );
    assert.throws(
      () => applyAnnotations(cfg, { "io.cocoon.config.hypervisor.path": "/tmp/qemu" }),
      /matches none of the valid paths/,
    );
    assert.throws(
      () => applyAnnotations(cfg, { "io.cocoon.config.hypervisor.enable_annotations": "path" }),
      /is not in/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "globMatch() matches * within one path segment only",
  permissions: "none",
  fn() {
    assert.ok(globMatch("/usr/bin/qemu-*", "/usr/bin/qemu-system-x86_64"));
    assert.ok(!globMatch("/usr/bin/*", "/usr/bin/x/y"));
    assert.ok(!globMatch("/usr/bin/qemu", "/usr/bin/qemuX"));
  },
});
