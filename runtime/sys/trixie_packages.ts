/**
 * Private installs of Debian 13 (trixie) packages on a Debian 12 host, from the host's own mirror
 * (runtime/sys/apt_sources.ts): a private apt list, state and
 * cache under `root` (the system's apt set-up is untouched), `apt-get download`, and `dpkg-deb -x`
 * into `<root>/prefix`. Used for virtiofsd (which Debian 12 lacks) and, in tests, containerd 1.7.
 * Cached and race-safe: `probe` is asked first, again under a file lock, and after the install.
 *
 * @module
 */
import { RuntimeError } from "../errors.ts";
import { hostDebianMirror } from "./apt_sources.ts";

const dec = new TextDecoder();

export interface TrixieInstall<T> {
  /** Where the apt state, the .deb files and `prefix/` go. */
  readonly root: string;
  /** Package names to download and unpack (each `<name>_*.deb`). */
  readonly packages: readonly string[];
  /** For messages: `virtiofsd`. */
  readonly what: string;
  /** What the install provides when it works, else undefined. */
  readonly probe: () => Promise<T | undefined>;
  /** What to run to check the result, for the message when `probe` still fails. */
  readonly check: string;
  readonly signal?: AbortSignal;
}

/** Runs `sh -c script sh ...args`; output is stdout then stderr. */
export async function sh(
  script: string,
  args: readonly string[],
  signal?: AbortSignal,
): Promise<{ code: number; out: string }> {
  const out = await new Deno.Command("sh", {
    args: ["-c", script, "sh", ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    ...(signal ? { signal } : {}),
  }).output();
  return { code: out.code, out: dec.decode(out.stdout) + dec.decode(out.stderr) };
}

/**
 * Installs `packages` from trixie under `root` unless `probe` already finds them working.
 *
 * @throws {RuntimeError} `Unavailable` when apt or dpkg-deb fails (no mirror access...), `Internal`
 * when the unpacked result does not pass `probe`.
 */
export async function installTrixiePackages<T>(o: TrixieInstall<T>): Promise<T> {
  const have = await o.probe();
  if (have !== undefined) return have;
  const root = o.root;
  await Deno.mkdir(`${root}/apt/lists/partial`, { recursive: true });
  await Deno.mkdir(`${root}/debs`, { recursive: true });
  using lock = await Deno.open(`${root}/.lock`, { write: true, create: true });
  await lock.lock(true);
  const raced = await o.probe();
  if (raced !== undefined) return raced;
  // The host's own mirror (its apt sources), only the suite name changed.
  const mirror = await hostDebianMirror();
  if (mirror === undefined) {
    throw new RuntimeError(
      "FailedPrecondition",
      `Cannot install ${o.what}: no Debian release source with "main" in /etc/apt/sources.list{,.d}`,
    );
  }
  const keyring = mirror.signedBy ?? "/usr/share/keyrings/debian-archive-keyring.gpg";
  await Deno.writeTextFile(
    `${root}/apt/trixie.list`,
    `deb [signed-by=${keyring}] ${mirror.uri} trixie main\n`,
  );
  const aptOpts = [
    `Dir::Etc::SourceList=${root}/apt/trixie.list`,
    "Dir::Etc::SourceParts=/dev/null",
    `Dir::State::Lists=${root}/apt/lists`,
    `Dir::Cache::pkgcache=${root}/apt/pkgcache.bin`,
    `Dir::Cache::srcpkgcache=${root}/apt/srcpkgcache.bin`,
  ].flatMap((x) => ["-o", x]);
  const step = async (what: string, script: string, args: readonly string[]) => {
    const r = await sh(script, args, o.signal);
    if (r.code !== 0) {
      throw new RuntimeError(
        "Unavailable",
        `Cannot install ${o.what}: ${what} exited with code ${r.code}: ${r.out.trim().slice(-400)}`,
      );
    }
  };
  await step("apt-get update", 'apt-get -q "$@" update', aptOpts);
  await step("apt-get download", 'cd "$1" && shift && apt-get -q "$@"', [
    `${root}/debs`,
    ...aptOpts,
    "download",
    ...o.packages,
  ]);
  const tmp = `${root}/prefix.tmp-${Deno.pid}`;
  await Deno.remove(tmp, { recursive: true }).catch(() => {});
  await Deno.mkdir(tmp);
  for await (const e of Deno.readDir(`${root}/debs`)) {
    if (e.name.endsWith(".deb") && o.packages.some((p) => e.name.startsWith(`${p}_`))) {
      await step(`dpkg-deb -x ${e.name}`, 'dpkg-deb -x "$1" "$2"', [`${root}/debs/${e.name}`, tmp]);
    }
  }
  await Deno.remove(`${root}/prefix`, { recursive: true }).catch(() => {});
  await Deno.rename(tmp, `${root}/prefix`);
  const done = await o.probe();
  if (done === undefined) {
    throw new RuntimeError("Internal", `Cannot install ${o.what}: "${o.check}" fails`);
  }
  return done;
}
