import { RuntimeError } from "../../errors.ts";
import { minimalSpec } from "../../oci/spec.ts";
import type { Command } from "../args.ts";
import { parseVerb } from "../oci_args.ts";

export const spec: Command = {
  summary: "Write a default config.json (runs sh on a terminal, rootfs ./rootfs)",
  usage: "cocoon spec [--bundle DIR]",
  async run(args) {
    const { values } = parseVerb("spec", args, {
      bundle: { type: "string", short: "b" },
      rootless: { type: "boolean" },
    });
    const dir = values.bundle ?? ".";
    const file = `${dir}/config.json`;
    const text = JSON.stringify(minimalSpec(["sh"], { terminal: true }), null, 2);
    try {
      await Deno.writeTextFile(file, text, { createNew: true });
    } catch (e) {
      if (e instanceof Deno.errors.AlreadyExists) {
        throw new RuntimeError("AlreadyExists", `Cannot write "${file}": the file exists: remove it first`, {
          cause: e,
        });
      }
      throw e;
    }
    return 0;
  },
};
