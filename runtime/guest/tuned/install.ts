/**
 * Puts a tuned kernel into an image: everything is built in, so the initrd carries no module, only
 * `lib/modules/<release>/modules.builtin` (so `modprobe` of a built-in one succeeds: the agent and
 * the guest's init ask for modules by name whatever the kernel) and an empty load list.
 *
 * @module
 */
import { join } from "node:path";
import type { KernelParts } from "../kernel.ts";
import { moduleName } from "../modules.ts";
import type { TunedKernel } from "./build.ts";

/** Installs the tuned kernel's module metadata under `initrdRoot`; returns the image's kernel parts. */
export async function installTunedKernel(
  kernel: TunedKernel,
  initrdRoot: string,
  wanted: readonly string[],
): Promise<KernelParts> {
  const dst = join(initrdRoot, "lib/modules", kernel.release);
  await Deno.mkdir(dst, { recursive: true });
  const builtinText = await Deno.readTextFile(kernel.modulesBuiltin).catch(() => "");
  await Deno.writeTextFile(join(dst, "modules.builtin"), builtinText);
  for (const f of ["modules.dep", "modules.alias", "modules.softdep", "modules.order"]) {
    await Deno.writeTextFile(join(dst, f), "");
  }
  await Deno.mkdir(join(initrdRoot, "etc/cocoon"), { recursive: true });
  await Deno.writeTextFile(join(initrdRoot, "etc/cocoon/modules"), "");
  const builtin = new Set(builtinText.split("\n").filter((l) => l !== "").map(moduleName));
  return {
    release: kernel.release,
    vmlinuz: kernel.vmlinuz,
    load: [],
    builtin: wanted.filter((m) => builtin.has(m.replaceAll("-", "_"))),
    missing: [],
    files: 0,
  };
}
