/**
 * Cocoon's host executable. One binary, many faces: dispatch on argv[0]
 * (`containerd-shim-cocoon-v2` → containerd shim v2) and on the first word (OCI verbs, `check`,
 * `env`, `plugins`, `guest`, ...).
 *
 * @module
 */
import { runCli } from "./runtime/cli/main.ts";

if (import.meta.main) {
  Deno.exit(await runCli(Deno.args));
}
