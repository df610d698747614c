/**
 * The `template` VM factory plugin. Config: `{ template_path: string }`.
 *
 * @module
 */
import { PluginError } from "../../../runtime/errors.ts";
import type { FactoryBackend, PluginModule } from "../../types.ts";
import { manifest } from "./manifest.ts";
import { createTemplateFactory } from "./template_factory.ts";

export { createTemplateFactory } from "./template_factory.ts";
export { templateKey, templateShape } from "./template_key.ts";
export { manifest };

const plugin: PluginModule<"factory", FactoryBackend> = {
  manifest,
  create(ctx) {
    const root = ctx.config["template_path"] ?? `${ctx.runDir}/template`;
    if (typeof root !== "string" || !root.startsWith("/")) {
      return Promise.reject(
        new PluginError(
          "InvalidArgument",
          `Invalid config key "factory.template_path": it must be an absolute path: current value is ${
            JSON.stringify(root)
          }`,
        ),
      );
    }
    return Promise.resolve(createTemplateFactory({ root, log: ctx.log }));
  },
};
export default plugin;
