/**
 * The kernel side of the image: the vmlinuz of an unpacked kernel package, and the modules the
 * guest needs (with their dependencies) copied, decompressed, into the initrd with a modules.dep
 * written by `depmod`. Modules are stored uncompressed: busybox modprobe need not handle xz, and a
 * TCG guest would spend long decompressing them.
 *
 * @module
 */
import { dirname, join } from "node:path";
import { GuestImageError } from "../errors.ts";
import { errText, exec } from "./_exec.ts";
import { moduleName, parseModulesDep, parseSoftDeps, selectModules } from "./modules.ts";

/** Modules that may be absent from a kernel flavour (the cloud kernels lack 9p). */
const OPTIONAL_MODULES: ReadonlySet<string> = new Set(["9p", "9pnet_virtio", "nfit"]);

export interface KernelParts {
  release: string;
  vmlinuz: string;
  load: string[];
  builtin: string[];
  missing: string[];
  files: number;
}

/** Finds the kernel in an unpacked package and installs the wanted modules under `initrdRoot`. */
export async function installKernelModules(
  kernelRoot: string,
  initrdRoot: string,
  wanted: readonly string[],
  signal?: AbortSignal,
  onDemand: readonly string[] = [],
): Promise<KernelParts> {
  const release = await findRelease(kernelRoot);
  const vmlinuz = join(kernelRoot, "boot", `vmlinuz-${release}`);
  const srcDir = join(kernelRoot, "lib/modules", release);
  const sig = signal ? { signal } : {};
  await exec("depmod", ["-b", kernelRoot, release], sig);
  const dep = parseModulesDep(await Deno.readTextFile(join(srcDir, "modules.dep")));
  const builtinLines = (await Deno.readTextFile(join(srcDir, "modules.builtin"))).split("\n").filter((l) =>
    l
  );
  const known = new Set([...dep.keys(), ...builtinLines].map(moduleName));
  const missing = wanted.filter((m) => !known.has(m.replaceAll("-", "_")) && OPTIONAL_MODULES.has(m));
  const readOpt = (f: string) => Deno.readTextFile(join(srcDir, f)).catch(() => "");
  const soft = parseSoftDeps(await readOpt("modules.softdep"), await readOpt("modules.alias"));
  const sel = selectModules(dep, builtinLines, wanted.filter((m) => !missing.includes(m)), soft);
  // Carried for the agent to load when needed; absent ones are simply not carried.
  const later = selectModules(
    dep,
    builtinLines,
    onDemand.filter((m) => known.has(m.replaceAll("-", "_"))),
    soft,
  );
  const paths = [...new Set([...sel.paths, ...later.paths])];
  const dstDir = join(initrdRoot, "lib/modules", release);
  await Deno.mkdir(dstDir, { recursive: true });
  for (const rel of paths) {
    signal?.throwIfAborted();
    const src = join(srcDir, rel);
    const dst = join(dstDir, rel.replace(/\.(xz|zst|gz)$/, ""));
    await Deno.mkdir(dirname(dst), { recursive: true });
    await decompressTo(src, dst, signal);
  }
  for (const f of ["modules.builtin", "modules.builtin.modinfo", "modules.order"]) {
    try {
      await Deno.copyFile(join(srcDir, f), join(dstDir, f));
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
  await exec("depmod", ["-b", initrdRoot, release], sig);
  await Deno.mkdir(join(initrdRoot, "etc/cocoon"), { recursive: true });
  await Deno.writeTextFile(join(initrdRoot, "etc/cocoon/modules"), sel.load.join("\n") + "\n");
  return { release, vmlinuz, load: sel.load, builtin: sel.builtin, missing, files: paths.length };
}

async function findRelease(kernelRoot: string): Promise<string> {
  for await (const e of Deno.readDir(join(kernelRoot, "boot"))) {
    if (e.name.startsWith("vmlinuz-")) return e.name.slice("vmlinuz-".length);
  }
  throw new GuestImageError("NotFound", `Cannot find a vmlinuz in "${kernelRoot}/boot"`);
}

async function decompressTo(src: string, dst: string, signal?: AbortSignal): Promise<void> {
  const tool: [string, string[]] | null = src.endsWith(".xz")
    ? ["xz", ["-dc", src]]
    : src.endsWith(".zst")
    ? ["zstd", ["-dcq", src]]
    : src.endsWith(".gz")
    ? ["gzip", ["-dc", src]]
    : null;
  if (tool === null) {
    await Deno.copyFile(src, dst);
    return;
  }
  try {
    await exec(tool[0], tool[1], { stdoutFile: dst, ...(signal ? { signal } : {}) });
  } catch (e) {
    // Hosts without the tool: busybox has the decompressors.
    try {
      await exec("busybox", [tool[0] === "zstd" ? "unzstd" : tool[0], ...tool[1]], {
        stdoutFile: dst,
        ...(signal ? { signal } : {}),
      });
    } catch {
      throw new GuestImageError("FailedPrecondition", `Cannot decompress "${src}": ${errText(e)}`, {
        cause: e,
      });
    }
  }
}
