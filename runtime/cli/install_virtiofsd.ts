/**
 * Installs Debian 13's virtiofsd privately (see {@link installVirtiofsd}) so that
 * `shared_fs = "auto"` picks virtio-fs: `deno run --allow-all runtime/cli/install_virtiofsd.ts
 * [ROOT]`. Prints the command line that runs it. Cached: a working install returns at once.
 *
 * @module
 */
import { DEFAULT_VIRTIOFSD_ROOT, installVirtiofsd } from "../sys/virtiofsd.ts";

if (import.meta.main) {
  const root = Deno.args[0] ?? DEFAULT_VIRTIOFSD_ROOT;
  try {
    const cmd = await installVirtiofsd({ root });
    // deno-lint-ignore no-console
    console.log(`virtiofsd ${cmd.version}: ${cmd.argv.join(" ")}`);
  } catch (e) {
    // deno-lint-ignore no-console
    console.error(e instanceof Error ? e.message : String(e));
    Deno.exit(1);
  }
}
