import assert from "node:assert/strict";
import { stringify } from "smol-toml";
import { effectiveTree } from "./effective.ts";
import { loadConfig, parseToml } from "./load.ts";
import { resolveConfig } from "./resolve.ts";

Deno.test("effectiveTree() round-trips through TOML to the same resolved configuration", async () => {
  const cfg = await loadConfig({ env: () => undefined, systemPath: "/proc/nonexistent/cocoon.toml" });
  const again = resolveConfig(parseToml(stringify(effectiveTree(cfg)), "env.toml"), cfg.source);
  assert.deepEqual(effectiveTree(again), effectiveTree(cfg));
});
