import assert from "node:assert/strict";
import { resolveConfig } from "../../config/resolve.ts";
import { isRuntimeError } from "../../errors.ts";
import { libraryConfig } from "./runtime_open.ts";

const base = resolveConfig(
  {
    hypervisor: { qemu: { kernel: "/k", default_vcpus: 1, default_memory: 256 } },
    runtime: { state_dir: "/s" },
  },
  { file: "test", dropIns: [] },
);

Deno.test({
  name: "libraryConfig() applies vcpus, memoryMiB and raw hypervisor keys over the given config",
  permissions: "none",
  async fn() {
    assert.equal(await libraryConfig({ config: base }), base);
    const c = await libraryConfig({
      config: base,
      vcpus: 2,
      memoryMiB: 768,
      hypervisor: { accelerator: "tcg" },
    });
    assert.deepEqual([c.hypervisor.defaultVcpus, c.hypervisor.defaultMemory, c.hypervisor.accelerator], [
      2,
      768,
      "tcg",
    ]);
    assert.equal(c.runtime.stateDir, "/s");
    assert.equal(c.hypervisor.kernel, "/k");
  },
});

Deno.test({
  name: "libraryConfig() refuses a vcpus or memoryMiB that is not a positive whole number",
  permissions: "none",
  async fn() {
    for (const o of [{ vcpus: 0 }, { vcpus: 1.5 }, { memoryMiB: -1 }]) {
      await assert.rejects(
        libraryConfig({ config: base, ...o }),
        (e) => isRuntimeError(e) && e.code === "InvalidArgument",
      );
    }
  },
});
