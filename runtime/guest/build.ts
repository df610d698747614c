/**
 * `buildGuestImage`: kernel, initrd and userland image from Debian packages and the agent, cached
 * under `<outDir>/<sha256 of inputs>/`. Computing the hash needs only local apt metadata and the
 * agent files, so a rebuild with the same inputs does no work and says so.
 *
 * @module
 */
import { join } from "node:path";
import { GuestImageError, isRuntimeError } from "../errors.ts";
import { rootLog } from "../log/logger.ts";
import { errText } from "./_exec.ts";
import {
  type AptContext,
  aptContext,
  aptListsAge,
  aptUpdate,
  type DebPackage,
  downloadDebs,
  extractDeb,
  newestKernelPackage,
  resolvePackages,
} from "./apt.ts";
import {
  AGENT_RUN_SCRIPT,
  assembleInitrdBase,
  assembleUserland,
  INIT_SCRIPT,
  writeErofs,
  writeInitrd,
} from "./assemble.ts";
import { warmAgentCodeCache } from "./code_cache.ts";
import { readManifest } from "./info.ts";
import { installKernelModules } from "./kernel.ts";
import { DEFAULT_GUEST_MODULES, ON_DEMAND_GUEST_MODULES } from "./modules.ts";
import { DEFAULT_DEB_CACHE, DEFAULT_GUEST_ROOT, IMAGE_FILES } from "./paths.ts";
import { resolvePayload, sha256File, sha256Text } from "./payload.ts";
import { silentProgress } from "./progress.ts";
import { buildTunedKernel, findTunedKernel, type TunedKernel } from "./tuned/build.ts";
import { installTunedKernel } from "./tuned/install.ts";
import {
  type BuildGuestImageOptions,
  DEFAULT_KERNEL_FLAVOUR,
  type GuestImage,
  type GuestManifest,
  type ProgressSink,
} from "./types.ts";

/** Bump when the image layout or the build steps change (part of the content hash). */
export const BUILDER_VERSION = "4";

const USERLAND_PACKAGES = ["crun", "runc", "libc6", "libgcc-s1"];
const WEEK_MS = 7 * 24 * 3600 * 1000;

/** Builds the guest image, or returns the cached one when the inputs are unchanged. */
export async function buildGuestImage(opts: BuildGuestImageOptions = {}): Promise<GuestImage> {
  const log = rootLog().child({ subsystem: "guest" });
  const progress = opts.progress ?? silentProgress;
  const signal = opts.signal;
  const outDir = opts.outDir ?? DEFAULT_GUEST_ROOT;
  const mode = opts.mode ?? "erofs";
  const flavour = opts.kernelFlavour ?? DEFAULT_KERNEL_FLAVOUR;
  const compression = opts.compression ?? "gzip";
  // The generic kernel builds crc32c as a module that erofs needs but modules.dep does not name.
  const wanted = opts.modules ??
    (flavour === "generic" ? ["crc32c_generic", ...DEFAULT_GUEST_MODULES] : DEFAULT_GUEST_MODULES);
  await Deno.mkdir(outDir, { recursive: true });
  const work = await Deno.makeTempDir({ dir: outDir, prefix: ".work-" });
  try {
    progress.step("Resolving Debian packages");
    const debCache = opts.debCache ?? DEFAULT_DEB_CACHE;
    await Deno.mkdir(debCache, { recursive: true });
    const apt = aptContext(debCache, signal);
    if ((await aptListsAge()) > (opts.aptMaxAgeMs ?? WEEK_MS)) {
      progress.note("apt lists are stale: apt-get update");
      await aptUpdate(signal).catch((e) => log.warn("apt-get update failed", { error: e }));
    }
    const tuned = await tunedKernelFor(opts, apt, debCache, progress);
    const kernel = tuned !== null
      ? undefined
      : opts.kernelPackage !== undefined
      ? (await resolvePackages([opts.kernelPackage], [], apt))[0]
      : await newestKernelPackage(flavour, apt);
    if (tuned === null && kernel === undefined) {
      throw new GuestImageError("NotFound", "Cannot resolve the kernel package");
    }
    const others = await resolvePackages(["busybox-static", ...USERLAND_PACKAGES], USERLAND_PACKAGES, apt);
    const packages: DebPackage[] = kernel !== undefined ? [kernel, ...others] : others;
    progress.note(
      `kernel ${
        tuned !== null
          ? `tuned ${tuned.release} (${tuned.hash.slice(0, 12)})`
          : `${kernel?.name} ${kernel?.version}`
      }, ${packages.length} packages`,
    );

    progress.step("Preparing the agent");
    const agent = await resolvePayload(opts, work, signal);
    const inputs: Record<string, string> = {
      builder: BUILDER_VERSION,
      mode,
      compression,
      modules: wanted.join(","),
      onDemandModules: ON_DEMAND_GUEST_MODULES.join(","),
      init: sha256Text(INIT_SCRIPT),
      agentRun: sha256Text(AGENT_RUN_SCRIPT),
      agent: `${agent.payload.kind}:${agent.sha256}`,
      runtime: agent.runtime === null ? "none" : `${agent.runtime.version}:${agent.runtime.sha256}`,
    };
    for (const p of packages) inputs[`pkg:${p.name}`] = p.version;
    if (tuned !== null) inputs["kernel"] = `tuned:${tuned.hash}`;
    const hash = sha256Text(JSON.stringify(Object.entries(inputs).sort()));
    const dir = join(outDir, hash);

    const cached = await cachedImage(dir, hash);
    if (cached !== null) {
      if (opts.setCurrent ?? true) await pointCurrent(outDir, hash);
      progress.done(`Guest image ${hash.slice(0, 12)} is up to date (nothing to do): ${dir}`);
      return cached;
    }
    using lock = await Deno.open(join(outDir, ".lock"), { write: true, create: true });
    progress.step("Waiting for the build lock");
    await lock.lock(true);
    const raced = await cachedImage(dir, hash);
    if (raced !== null) {
      progress.done(`Guest image ${hash.slice(0, 12)} was built meanwhile: ${dir}`);
      return raced;
    }

    progress.step(`Downloading ${packages.length} packages`);
    const debs = await downloadDebs(packages, debCache, signal);
    progress.step("Unpacking packages");
    const unpacked = new Map<string, string>();
    for (const p of packages) {
      const root = join(work, "pkg", p.name);
      await extractDeb(debs.get(p.name) ?? "", root, signal);
      unpacked.set(p.name, root);
    }

    const initrdRoot = join(work, "initrd");
    const stage = join(work, "image");
    await Deno.mkdir(stage);
    progress.step("Selecting kernel modules");
    const kparts = tuned !== null
      ? await installTunedKernel(tuned, initrdRoot, wanted)
      : await installKernelModules(
        unpacked.get(kernel?.name ?? "") ?? "",
        initrdRoot,
        wanted,
        signal,
        ON_DEMAND_GUEST_MODULES,
      );
    if (kparts.missing.length > 0) progress.note(`not in this kernel: ${kparts.missing.join(", ")}`);
    await assembleInitrdBase(initrdRoot, unpacked.get("busybox-static") ?? "", mode);

    progress.step("Assembling the userland");
    const userland = mode === "erofs" ? join(work, "userland") : join(initrdRoot, "cocoon");
    const libs = await assembleUserland(userland, agent.payload, unpacked);
    if (agent.payload.kind === "bundle") {
      progress.step("Warming the agent's V8 code cache");
      const warmed = await warmAgentCodeCache(userland, work, signal ? { signal } : {});
      if (!warmed) progress.note("no code cache (the agent starts cold)");
    }
    let rootfs: GuestManifest["files"]["rootfs"] = null;
    if (mode === "erofs") {
      progress.step("Writing rootfs.erofs");
      await writeErofs(userland, join(stage, IMAGE_FILES.rootfs), signal);
      rootfs = await fileInfo(join(stage, IMAGE_FILES.rootfs));
    }
    progress.step(`Writing initrd.img (${compression})`);
    await writeInitrd(initrdRoot, join(stage, IMAGE_FILES.initrd), compression, signal);
    await Deno.copyFile(kparts.vmlinuz, join(stage, IMAGE_FILES.kernel));

    const manifest: GuestManifest = {
      schema: 1,
      hash,
      builderVersion: BUILDER_VERSION,
      createdAt: new Date().toISOString(),
      mode,
      kernel: tuned !== null
        ? {
          package: tuned.sourcePackage,
          version: tuned.sourceVersion,
          release: kparts.release,
          flavour: "tuned",
        }
        : { package: kernel?.name ?? "", version: kernel?.version ?? "", release: kparts.release, flavour },
      packages: packages.map((p) => ({ name: p.name, version: p.version })),
      modules: { load: kparts.load, builtin: kparts.builtin, missing: kparts.missing, files: kparts.files },
      agent: {
        kind: agent.payload.kind,
        sha256: agent.sha256,
        size: agent.size,
        runtime: agent.runtime === null
          ? null
          : { name: agent.runtime.name, version: agent.runtime.version, size: agent.runtime.size },
      },
      libraries: libs,
      files: {
        vmlinuz: await fileInfo(join(stage, IMAGE_FILES.kernel)),
        initrd: await fileInfo(join(stage, IMAGE_FILES.initrd)),
        rootfs,
      },
      // a built-in dummy driver would make a dummy0 in every guest (Debian's is a module, loaded on demand)
      cmdline: tuned !== null ? "panic=1 dummy.numdummies=0" : "panic=1",
      inputs,
    };
    await Deno.writeTextFile(join(stage, IMAGE_FILES.manifest), JSON.stringify(manifest, null, 2) + "\n");
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    await Deno.rename(stage, dir);
    if (opts.setCurrent ?? true) await pointCurrent(outDir, hash);
    progress.done(`Built guest image ${hash.slice(0, 12)}: ${dir}`);
    log.info("guest image built", { dir, hash, mode });
    return imageOf(dir, manifest, true);
  } catch (e) {
    if (isRuntimeError(e)) throw e;
    if (signal?.aborted) {
      throw new GuestImageError("Cancelled", "Cannot build the guest image: cancelled", { cause: e });
    }
    throw new GuestImageError("Internal", `Cannot build the guest image: ${errText(e)}`, { cause: e });
  } finally {
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
}

/**
 * The tuned kernel this image uses, or null for Debian's: `tuned` builds it when missing, `auto`
 * (the default) takes it only when it is built already, `debian` never.
 */
async function tunedKernelFor(
  opts: BuildGuestImageOptions,
  apt: AptContext,
  debCache: string,
  progress: ProgressSink,
): Promise<TunedKernel | null> {
  const choice = opts.kernel ?? "auto";
  if (choice === "debian" || opts.kernelPackage !== undefined || opts.kernelFlavour !== undefined) {
    return null;
  }
  const where = opts.kernelCache !== undefined ? { cacheDir: opts.kernelCache } : {};
  if (choice === "auto") return await findTunedKernel({ ...where, apt }).catch(() => null);
  return await buildTunedKernel({
    ...where,
    apt,
    debCache,
    progress,
    ...(opts.signal !== undefined ? { signal: opts.signal } : {}),
  });
}

async function cachedImage(dir: string, hash: string): Promise<GuestImage | null> {
  try {
    const m = await readManifest(dir);
    return m.hash === hash ? imageOf(dir, m, false) : null;
  } catch {
    return null;
  }
}

function imageOf(dir: string, manifest: GuestManifest, built: boolean): GuestImage {
  return {
    dir,
    hash: manifest.hash,
    kernel: join(dir, IMAGE_FILES.kernel),
    initrd: join(dir, IMAGE_FILES.initrd),
    rootfs: manifest.files.rootfs === null ? null : join(dir, IMAGE_FILES.rootfs),
    manifest,
    built,
  };
}

/** Atomically points `<outDir>/current` at `<outDir>/<hash>`. */
async function pointCurrent(outDir: string, hash: string): Promise<void> {
  const tmp = join(outDir, `.current-${crypto.randomUUID()}`);
  await Deno.symlink(hash, tmp);
  await Deno.rename(tmp, join(outDir, "current"));
}

async function fileInfo(path: string): Promise<{ size: number; sha256: string }> {
  return { size: (await Deno.stat(path)).size, sha256: await sha256File(path) };
}
