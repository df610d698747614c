/**
 * Builds the tuned guest kernel from Debian's kernel source package (`linux-source-6.12`, the same
 * source as Debian's prebuilt kernel) with the options of config.ts, and caches it by content hash:
 *
 * ```
 * /var/cache/cocoon/kernels/
 *   <sha256 of inputs>/  vmlinuz  config  modules.builtin  kernel.json
 *   .tree-<version>/     the unpacked source and its objects, kept for the next build
 *   .lock                build lock (flock): parallel builders wait, then reuse the result
 * ```
 *
 * The hash covers this builder's version, the source package's version and the options, so finding
 * the cached kernel needs only local apt metadata ({@link findTunedKernel}). A build unpacks the
 * source into `.tree-<source version>/` beside the cache and keeps it (about 2.5 GB with the objects;
 * remove it at will): a change of options then rebuilds only what they touch. The first build takes
 * about a quarter of an hour on 2 cores.
 *
 * @module
 */
import { join } from "node:path";
import { GuestImageError } from "../../errors.ts";
import { errText, exec } from "../_exec.ts";
import { type AptContext, aptShow, type DebPackage, downloadDebs } from "../apt.ts";
import { sha256Text } from "../payload.ts";
import { silentProgress } from "../progress.ts";
import type { ProgressSink } from "../types.ts";
import { configFragment, missingOptions, TUNED_SOURCE_PACKAGE } from "./config.ts";

/** Bump when the build steps change (part of the content hash). */
const TUNED_BUILDER_VERSION = "1";

/** Where tuned kernels are cached. */
export const DEFAULT_KERNEL_CACHE = "/var/cache/cocoon/kernels";

/** Host programs a build needs, and the Debian packages that have them. */
const BUILD_TOOLS: readonly (readonly [string, string])[] = [
  ["make", "make"],
  ["gcc", "gcc"],
  ["bison", "bison"],
  ["flex", "flex"],
  ["bc", "bc"],
  ["xz", "xz-utils"],
  ["perl", "perl"],
];

/** A built (or cached) tuned kernel. */
export interface TunedKernel {
  readonly dir: string;
  readonly hash: string;
  readonly vmlinuz: string;
  /** `uname -r` in the guest (`6.12.x-cocoon`). */
  readonly release: string;
  readonly sourcePackage: string;
  readonly sourceVersion: string;
  /** Options as built (`.config`), and the built-in module list (`modules.builtin`). */
  readonly config: string;
  readonly modulesBuiltin: string;
  /** Seconds the build took (when it was built, not when it was found). */
  readonly buildSeconds: number;
  readonly built: boolean;
}

export interface TunedKernelOptions {
  /** Root of the kernel cache (default /var/cache/cocoon/kernels). */
  cacheDir?: string;
  /** Where `.deb` files are cached. */
  debCache: string;
  apt: AptContext;
  /** Parallel jobs for make (default: the host's CPU count). */
  jobs?: number;
  signal?: AbortSignal;
  progress?: ProgressSink;
}

interface KernelJson {
  release: string;
  sourcePackage: string;
  sourceVersion: string;
  buildSeconds: number;
}

/** The source package and the content hash of the kernel it would build. */
async function tunedKernelInputs(apt: AptContext): Promise<{ pkg: DebPackage; hash: string }> {
  const pkg = (await aptShow([TUNED_SOURCE_PACKAGE], apt)).get(TUNED_SOURCE_PACKAGE);
  if (pkg === undefined) {
    throw new GuestImageError(
      "NotFound",
      `Cannot find "${TUNED_SOURCE_PACKAGE}" in apt metadata: run apt-get update, or use the Debian kernel (--kernel debian)`,
    );
  }
  const hash = sha256Text(JSON.stringify([TUNED_BUILDER_VERSION, pkg.name, pkg.version, configFragment()]));
  return { pkg, hash };
}

/** The cached tuned kernel for the current source and options, or null when it was not built. */
export async function findTunedKernel(
  opts: Pick<TunedKernelOptions, "cacheDir" | "apt">,
): Promise<TunedKernel | null> {
  const { hash } = await tunedKernelInputs(opts.apt);
  return await cached(join(opts.cacheDir ?? DEFAULT_KERNEL_CACHE, hash), hash);
}

async function cached(dir: string, hash: string): Promise<TunedKernel | null> {
  try {
    const meta = JSON.parse(await Deno.readTextFile(join(dir, "kernel.json"))) as KernelJson;
    await Deno.stat(join(dir, "vmlinuz"));
    return {
      dir,
      hash,
      vmlinuz: join(dir, "vmlinuz"),
      release: meta.release,
      sourcePackage: meta.sourcePackage,
      sourceVersion: meta.sourceVersion,
      config: join(dir, "config"),
      modulesBuiltin: join(dir, "modules.builtin"),
      buildSeconds: meta.buildSeconds,
      built: false,
    };
  } catch {
    return null;
  }
}

async function checkTools(): Promise<void> {
  const missing: string[] = [];
  for (const [tool, pkg] of BUILD_TOOLS) {
    const ok = await new Deno.Command("sh", {
      args: ["-c", `command -v ${tool}`],
      stdout: "null",
      stderr: "null",
    })
      .output().then((o) => o.success, () => false);
    if (!ok) missing.push(pkg);
  }
  const elf = await Deno.stat("/usr/include/gelf.h").then(() => true, () => false);
  if (!elf) missing.push("libelf-dev");
  if (missing.length > 0) {
    throw new GuestImageError(
      "FailedPrecondition",
      `Cannot build the tuned kernel: missing build tools; install them with: apt-get install ${
        missing.join(" ")
      }`,
    );
  }
}

/** Builds the tuned kernel, or returns the cached one. */
export async function buildTunedKernel(opts: TunedKernelOptions): Promise<TunedKernel> {
  const progress = opts.progress ?? silentProgress;
  const signal = opts.signal;
  const sig = signal ? { signal } : {};
  const cacheDir = opts.cacheDir ?? DEFAULT_KERNEL_CACHE;
  const { pkg, hash } = await tunedKernelInputs(opts.apt);
  const dir = join(cacheDir, hash);
  const found = await cached(dir, hash);
  if (found !== null) return found;
  await Deno.mkdir(cacheDir, { recursive: true });
  using lock = await Deno.open(join(cacheDir, ".lock"), { write: true, create: true });
  progress.step("Waiting for the kernel build lock");
  await lock.lock(true);
  const raced = await cached(dir, hash);
  if (raced !== null) return raced;
  await checkTools();

  const t0 = performance.now();
  // One source tree per source version, kept after the build: a change of options rebuilds only what
  // they touch (kbuild tracks each object's options), and a killed build goes on where it stopped.
  const work = join(cacheDir, `.tree-${pkg.version.replace(/[^A-Za-z0-9.+-]/g, "_")}`);
  const major = pkg.name.slice("linux-source-".length);
  const src = join(work, `linux-source-${major}`);
  const env = {
    PATH: Deno.env.get("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin",
    HOME: work,
    LANG: "C",
    KBUILD_BUILD_USER: "cocoon",
    KBUILD_BUILD_HOST: "cocoon",
    KBUILD_BUILD_TIMESTAMP: "1970-01-01",
  };
  const make = (args: string[]) => exec("make", ["-s", ...args], { cwd: src, env, ...sig });
  const marker = join(work, "unpacked");
  const reused = (await Deno.readTextFile(marker).catch(() => "")) === `${pkg.name} ${pkg.version}`;
  try {
    if (reused) {
      progress.note(`building in the kept source tree ${work}`);
    } else {
      await Deno.remove(work, { recursive: true }).catch(() => {});
      await Deno.mkdir(work, { recursive: true });
      progress.step(`Downloading ${pkg.name} ${pkg.version}`);
      const deb = (await downloadDebs([pkg], opts.debCache, signal)).get(pkg.name) ?? "";
      progress.step("Unpacking the kernel source");
      await exec("sh", [
        "-c",
        `dpkg-deb --fsys-tarfile "$1" | tar -xO "./usr/src/linux-source-$2.tar.xz" | xz -dc -T0 | tar -x -C "$3"`,
        "sh",
        deb,
        major,
        work,
      ], sig);
      await Deno.writeTextFile(marker, `${pkg.name} ${pkg.version}`);
    }
    progress.step("Configuring (allnoconfig + Cocoon's options)");
    await make(["allnoconfig"]);
    await Deno.writeTextFile(join(work, "cocoon.config"), configFragment());
    await exec("sh", ["scripts/kconfig/merge_config.sh", "-m", ".config", join(work, "cocoon.config")], {
      cwd: src,
      env,
      ...sig,
    });
    await make(["olddefconfig"]);
    const config = await Deno.readTextFile(join(src, ".config"));
    const missing = missingOptions(config);
    if (missing.length > 0) {
      throw new GuestImageError(
        "Internal",
        `Cannot configure the tuned kernel: ${missing.length} option(s) did not take: ${missing.join(", ")}`,
      );
    }

    const jobs = opts.jobs ?? navigator.hardwareConcurrency;
    progress.step(`Compiling (make -j${jobs} bzImage; about a quarter of an hour on 2 cores)`);
    await make([`-j${jobs}`, "bzImage"]);
    const release = (await make(["kernelrelease"])).trim();

    const stage = join(work, "out");
    await Deno.remove(stage, { recursive: true }).catch(() => {});
    await Deno.mkdir(stage);
    await Deno.copyFile(join(src, "arch/x86/boot/bzImage"), join(stage, "vmlinuz"));
    await Deno.writeTextFile(join(stage, "config"), config);
    const builtin = await Deno.readTextFile(join(src, "modules.builtin")).catch(() => "");
    await Deno.writeTextFile(join(stage, "modules.builtin"), builtin);
    const buildSeconds = Math.round((performance.now() - t0) / 1000);
    const meta: KernelJson = { release, sourcePackage: pkg.name, sourceVersion: pkg.version, buildSeconds };
    await Deno.writeTextFile(join(stage, "kernel.json"), JSON.stringify(meta, null, 2) + "\n");
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    await Deno.rename(stage, dir);
    progress.note(`tuned kernel ${release} built in ${buildSeconds} s: ${dir}`);
    const out = await cached(dir, hash);
    if (out === null) throw new GuestImageError("Internal", `Cannot read the kernel just built in "${dir}"`);
    return { ...out, built: true };
  } catch (e) {
    if (e instanceof GuestImageError) throw e;
    throw new GuestImageError("Internal", `Cannot build the tuned kernel: ${errText(e)}`, { cause: e });
  }
}
