import assert from "node:assert/strict";
import { applyAnnotations } from "../config/annotations.ts";
import { resolveConfig } from "../config/resolve.ts";
import { factoryName, factoryPluginConfig } from "./factory.ts";

const src = { file: "test", dropIns: [] };

Deno.test({
  name: "factoryName() follows [factory] enable_template and the allow-listed pod annotation",
  permissions: "none",
  fn() {
    const off = resolveConfig({ runtime: { enable_annotations: ["factory.enable_template"] } }, src);
    assert.equal(factoryName(off), "new");
    const on = applyAnnotations(off, { "io.cocoon.config.factory.enable_template": "true" });
    assert.equal(factoryName(on), "template");
    assert.deepEqual(factoryPluginConfig(on, "template"), { template_path: "/run/cocoon/template" });
    const kata = applyAnnotations(off, { "io.katacontainers.config.factory.enable_template": "true" });
    assert.equal(factoryName(kata), "template");
  },
});

Deno.test({
  name: "a pod may not set factory.enable_template unless allowed, nor any other factory key",
  permissions: "none",
  fn() {
    const strict = resolveConfig({}, src);
    assert.throws(
      () => applyAnnotations(strict, { "io.cocoon.config.factory.enable_template": "true" }),
      /"factory.enable_template" is not in "runtime.enable_annotations"/,
    );
    const loose = resolveConfig({
      runtime: { enable_annotations: ["factory.enable_template", "factory.template_path"] },
    }, src);
    assert.throws(
      () => applyAnnotations(loose, { "io.cocoon.config.factory.template_path": "/tmp/x" }),
      /Cannot apply annotation "io.cocoon.config.factory.template_path"/,
    );
  },
});
