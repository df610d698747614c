/**
 * Cocoon's host executable. One binary, many faces: dispatch on argv[0]
 * (`containerd-shim-cocoon-v2` → containerd shim v2) and on the first word (OCI verbs, `check`,
 * `env`, `plugins`, `guest`, ...).
 *
 * @module
 */
import { invokedName, SHIM_NAME } from "./runtime/cli/argv0.ts";
import { runCli, runShimCli } from "./runtime/cli/main.ts";
import { cleanProcessEnv } from "./runtime/sys/process_env.ts";

if (import.meta.main) {
  const name = invokedName();
  cleanProcessEnv();
  Deno.exit(name === SHIM_NAME ? await runShimCli(Deno.args) : await runCli(Deno.args));
}
