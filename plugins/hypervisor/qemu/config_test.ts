import assert from "node:assert/strict";
import { ConfigError } from "../../../runtime/errors.ts";
import { DEFAULT_QEMU_CONFIG, parseQemuConfig } from "./config.ts";

Deno.test({
  name: "parseQemuConfig() returns the defaults for an empty table and maps snake_case keys",
  permissions: "none",
  fn() {
    assert.deepEqual(parseQemuConfig({}), DEFAULT_QEMU_CONFIG);
    const c = parseQemuConfig({
      path: "/opt/qemu/bin/qemu-system-x86_64",
      machine_type: "microvm",
      default_memory: 1024,
      memory_slots: 4,
      kernel_params: "foo=1  bar",
      accelerator: "kvm",
      enable_debug: true,
    });
    assert.equal(c.path, "/opt/qemu/bin/qemu-system-x86_64");
    assert.equal(c.machineType, "microvm");
    assert.equal(c.defaultMemory, 1024);
    assert.equal(c.memorySlots, 4);
    assert.deepEqual(c.kernelParams, ["foo=1", "bar"]);
    assert.equal(c.accelerator, "kvm");
    assert.equal(c.enableDebug, true);
  },
});

Deno.test({
  name: "parseQemuConfig() throws ConfigError naming the key and value when a value is invalid or unknown",
  permissions: "none",
  fn() {
    const bad = (raw: Record<string, unknown>, re: RegExp): void =>
      assert.throws(
        () => parseQemuConfig(raw),
        (e: unknown) => e instanceof ConfigError && e.code === "InvalidArgument" && re.test(e.message),
      );
    bad(
      { default_memory: 32 },
      /^Invalid config key "hypervisor.qemu.default_memory": it must be >= 64: current value is 32$/,
    );
    bad(
      { accelerator: "hvf" },
      /"hypervisor.qemu.accelerator": it must be "auto", "kvm" or "tcg": current value is "hvf"/,
    );
    bad({ memory_slots: 1.5 }, /must be an integer/);
    bad({ kernel_params: [1] }, /must be a string or an array of strings/);
    bad({ frobnicate: true }, /"hypervisor.qemu.frobnicate": it is unknown/);
  },
});

Deno.test({
  name: "parseQemuConfig(): seccomp and confinement go off only through insecure_* keys",
  permissions: "none",
  fn() {
    assert.equal(DEFAULT_QEMU_CONFIG.seccomp, true);
    assert.equal(DEFAULT_QEMU_CONFIG.confine, true);
    assert.equal(parseQemuConfig({ seccomp: true }).seccomp, true);
    assert.throws(() => parseQemuConfig({ seccomp: false }), /set insecure_disable_seccomp = true/);
    assert.equal(parseQemuConfig({ insecure_disable_seccomp: true }).seccomp, false);
    assert.equal(parseQemuConfig({ insecure_disable_seccomp: false }).seccomp, true);
    assert.equal(parseQemuConfig({ insecure_unconfined: true }).confine, false);
    assert.throws(() => parseQemuConfig({ insecure_unconfined: "yes" }), /must be a boolean/);
    assert.equal(parseQemuConfig({ console_log_max_bytes: 1 << 20 }).consoleLogMaxBytes, 1 << 20);
    assert.throws(() => parseQemuConfig({ console_log_max_bytes: 10 }), /must be >= 65536/);
    assert.equal(parseQemuConfig({}).tcgTbSizeMiB, 0);
    assert.equal(parseQemuConfig({ tcg_tb_size_mib: 64 }).tcgTbSizeMiB, 64);
    assert.throws(() => parseQemuConfig({ tcg_tb_size_mib: 8192 }), /tcg_tb_size_mib.*must be <= 4096/);
    assert.throws(() => parseQemuConfig({ insecure_run_as_root: "yes" }), /must be a boolean/);
    assert.equal(parseQemuConfig({ insecure_run_as_root: true }).vmUser, false);
    assert.equal(parseQemuConfig({}).vmUser, true);
  },
});
