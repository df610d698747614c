/**
 * Debian packages for the guest image: pick versions from the local apt metadata (no download
 * needed to know the content hash), then fetch `.deb` files with `apt-get download` into a cache
 * directory and unpack them with `dpkg-deb -x`.
 *
 * @module
 */
import { join } from "node:path";
import { GuestImageError } from "../errors.ts";
import { compareDebianVersions } from "./debian_version.ts";
import { errText, exec } from "./_exec.ts";

/** One package at one version. */
export interface DebPackage {
  name: string;
  version: string;
  architecture: string;
  /** Package names from Depends and Pre-Depends (first alternative, no version constraints). */
  depends: string[];
}

const APT_LISTS = "/var/lib/apt/lists";

/** How to run apt-cache: extra `-o` options (our own package cache file) and a signal. */
export interface AptContext {
  options: readonly string[];
  signal?: AbortSignal;
}

/**
 * An apt context that keeps apt's binary package cache in `cacheDir` (hosts often disable it, and
 * each apt-cache call then re-reads every list: ~2 s instead of ~0.3 s).
 */
export function aptContext(cacheDir: string, signal?: AbortSignal): AptContext {
  return {
    options: [
      "-o",
      `Dir::Cache::pkgcache=${join(cacheDir, ".apt-pkgcache.bin")}`,
      "-o",
      `Dir::Cache::srcpkgcache=${join(cacheDir, ".apt-srcpkgcache.bin")}`,
    ],
    ...(signal ? { signal } : {}),
  };
}

/** Parses `apt-cache show` / control-file stanzas. */
export function parseStanzas(text: string): DebPackage[] {
  const out: DebPackage[] = [];
  for (const block of text.split(/\n\s*\n/)) {
    const fields = new Map<string, string>();
    let last = "";
    for (const line of block.split("\n")) {
      if (/^\s/.test(line) && last !== "") fields.set(last, (fields.get(last) ?? "") + "\n" + line.trim());
      else {
        const c = line.indexOf(":");
        if (c <= 0) continue;
        last = line.slice(0, c);
        fields.set(last, line.slice(c + 1).trim());
      }
    }
    const name = fields.get("Package");
    const version = fields.get("Version");
    if (name === undefined || version === undefined) continue;
    const deps = [fields.get("Pre-Depends") ?? "", fields.get("Depends") ?? ""].join(",");
    out.push({
      name,
      version,
      architecture: fields.get("Architecture") ?? "amd64",
      depends: deps.split(",").map((d) => (d.split("|")[0] ?? "").trim().split(/[\s(:]/)[0] ?? "").filter((
        d,
      ) => d !== ""),
    });
  }
  return out;
}

/** The candidate version of each named package, from local apt metadata. */
export async function aptShow(names: readonly string[], ctx: AptContext): Promise<Map<string, DebPackage>> {
  const signal = ctx.signal;
  const found = new Map<string, DebPackage>();
  let text = "";
  try {
    text = await exec(
      "apt-cache",
      [...ctx.options, "show", "--no-all-versions", ...names],
      signal ? { signal } : {},
    );
  } catch (e) {
    // apt-cache fails when any name is unknown; ask one by one to name the culprit.
    for (const n of names) {
      try {
        text += "\n\n" +
          await exec("apt-cache", [...ctx.options, "show", "--no-all-versions", n], signal ? { signal } : {});
      } catch (e2) {
        throw new GuestImageError("NotFound", `Cannot find Debian package "${n}": ${errText(e2)}`, {
          cause: e,
        });
      }
    }
  }
  for (const p of parseStanzas(text)) if (!found.has(p.name)) found.set(p.name, p);
  for (const n of names) {
    if (!found.has(n)) {
      throw new GuestImageError("NotFound", `Cannot find Debian package "${n}" in apt metadata`);
    }
  }
  return found;
}

/** The newest `linux-image-<version>-<flavour>-amd64` package known to apt. */
export async function newestKernelPackage(flavour: string, ctx: AptContext): Promise<DebPackage> {
  const signal = ctx.signal;
  const suffix = flavour === "generic" ? "" : `-${flavour}`;
  const re = `^linux-image-[0-9][^ ]*[0-9]${suffix}-amd64$`;
  const names =
    (await exec("apt-cache", [...ctx.options, "search", "--names-only", re], signal ? { signal } : {}))
      .split("\n").map((l) => l.split(" ")[0] ?? "").filter((n) => new RegExp(re).test(n));
  if (names.length === 0) {
    throw new GuestImageError(
      "NotFound",
      `Cannot find a "linux-image-*${suffix}-amd64" package in apt metadata`,
    );
  }
  const pkgs = [...(await aptShow(names, ctx)).values()];
  pkgs.sort((a, b) => compareDebianVersions(b.version, a.version));
  let best = pkgs[0];
  // A meta package (linux-image-6.12-cloud-amd64) ties on version with the real one it depends on.
  for (let i = 0; i < 3 && best !== undefined; i++) {
    const real = best.depends.find((d) => d.startsWith("linux-image-"));
    if (real === undefined) return best;
    best = (await aptShow([real], ctx)).get(real);
  }
  throw new GuestImageError("NotFound", `Cannot find a "linux-image-*${suffix}-amd64" package with a kernel`);
}

/**
 * Resolves `roots` and, for those in `follow`, the library packages (`lib*`) they depend on,
 * transitively. Returns every package once, roots first.
 */
export async function resolvePackages(
  roots: readonly string[],
  follow: readonly string[],
  ctx: AptContext,
): Promise<DebPackage[]> {
  const all = new Map<string, DebPackage>();
  let level = [...new Set([...roots, ...follow])];
  const followSet = new Set(follow);
  while (level.length > 0) {
    const shown = await aptShow(level, ctx);
    const next: string[] = [];
    for (const name of level) {
      const p = shown.get(name);
      if (p === undefined) continue;
      all.set(name, p);
      if (!followSet.has(name) && roots.includes(name)) continue;
      for (const d of p.depends) if (d.startsWith("lib") && !all.has(d) && !next.includes(d)) next.push(d);
    }
    level = next.filter((n) => !all.has(n));
  }
  return [...all.values()];
}

/** Age in milliseconds of the newest apt list file, or Infinity when there is none. */
export async function aptListsAge(): Promise<number> {
  let newest = 0;
  try {
    for await (const e of Deno.readDir(APT_LISTS)) {
      if (!e.isFile || !e.name.endsWith("Release")) continue;
      const m = (await Deno.stat(join(APT_LISTS, e.name))).mtime?.getTime() ?? 0;
      if (m > newest) newest = m;
    }
  } catch {
    return Infinity;
  }
  return newest === 0 ? Infinity : Date.now() - newest;
}

export async function aptUpdate(signal?: AbortSignal): Promise<void> {
  await exec("apt-get", ["update", "-q"], signal ? { signal } : {});
}

/** The file name apt gives a downloaded package (`:` in versions becomes `%3a`). */
export function debFileName(p: DebPackage): string {
  return `${p.name}_${p.version.replaceAll(":", "%3a")}_${p.architecture}.deb`;
}

/**
 * Makes sure each package's `.deb` is in `cacheDir` (downloading the missing ones in one
 * `apt-get download` call, after an `apt-get update` when the first try fails); returns paths.
 */
export async function downloadDebs(
  pkgs: readonly DebPackage[],
  cacheDir: string,
  signal?: AbortSignal,
): Promise<Map<string, string>> {
  await Deno.mkdir(cacheDir, { recursive: true });
  const paths = new Map<string, string>();
  const missing: DebPackage[] = [];
  for (const p of pkgs) {
    const path = join(cacheDir, debFileName(p));
    paths.set(p.name, path);
    if (!(await exists(path))) missing.push(p);
  }
  if (missing.length === 0) return paths;
  const args = ["download", "-q", ...missing.map((p) => `${p.name}=${p.version}`)];
  const opts = signal ? { cwd: cacheDir, signal } : { cwd: cacheDir };
  try {
    await exec("apt-get", args, opts);
  } catch (first) {
    try {
      await aptUpdate(signal);
      await exec("apt-get", args, opts);
    } catch (e) {
      throw new GuestImageError("Unavailable", `Cannot download Debian packages: ${errText(e)}`, {
        cause: first,
      });
    }
  }
  for (const p of missing) {
    const path = paths.get(p.name) ?? "";
    if (!(await exists(path))) {
      throw new GuestImageError(
        "Internal",
        `Cannot find "${debFileName(p)}" in "${cacheDir}" after apt-get download`,
      );
    }
  }
  return paths;
}

/** Unpacks a `.deb` into `dir`. */
export async function extractDeb(deb: string, dir: string, signal?: AbortSignal): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  await exec("dpkg-deb", ["-x", deb, dir], signal ? { signal } : {});
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}
