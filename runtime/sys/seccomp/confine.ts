/**
 * Runs a host helper that writes files for a guest (QEMU, virtiofsd) with the no-privileged-files
 * seccomp filter ({@link noPrivilegedFilesProgram}): no new privileges, and no setuid/setgid bits,
 * device nodes or xattrs can be made by it or anything it runs.
 *
 * The loader is a short Perl program (./loader.ts; `perl-base` is Essential in Debian, so it is on
 * every host): it optionally jails the helper (own uid, read-only mount namespace), sets
 * `PR_SET_NO_NEW_PRIVS`, loads the filter with `seccomp(2)` and execs the helper in place, so the
 * spawned pid stays the helper's (QEMU's pid is what the holder watches). It adds about 10 ms to a
 * start. bubblewrap was tried first: it keeps a monitor process
 * as the helper's parent, and Deno cannot run code between fork and exec (docs/decisions.md).
 *
 * @module
 */
import { RuntimeError } from "../../errors.ts";
import { type Jail, jailOptions, LOADER } from "./loader.ts";
import { encodeProgram, filterSupported, noPrivilegedFilesProgram } from "./no_privileged_files.ts";

/** How to confine a helper: the loader and the compiled filter's file. */
export interface Confinement {
  readonly perl: string;
  readonly filter: string;
}

/** Where {@link prepareConfinement} writes the filter in `dir`. Pure. */
export function filterPath(dir: string): string {
  return `${dir}/no-privileged-files.bpf`;
}

/** Argv that runs `argv` confined (the loader execs it in place), inside `jail` when given. Pure. */
export function confinedArgv(c: Confinement, argv: readonly string[], jail?: Jail): string[] {
  return [c.perl, "-e", LOADER, "--", c.filter, ...jailOptions(jail), "--", ...argv];
}

/**
 * The Perl interpreter's path; undefined when it is certainly missing. Where this process may not
 * look (a plugin's read permission), the bare name is returned and the spawn resolves it.
 */
export async function findPerl(): Promise<string | undefined> {
  const dirs = ["/usr/bin", "/bin", ...(Deno.env.get("PATH") ?? "").split(":")];
  for (const d of dirs) {
    if (!d.startsWith("/")) continue;
    try {
      const s = await Deno.stat(`${d}/perl`);
      if (s.isFile && ((s.mode ?? 0) & 0o111) !== 0) return `${d}/perl`;
    } catch (e) {
      if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) return "perl";
    }
  }
  return undefined;
}

/**
 * Writes the filter into `dir` and finds the loader.
 *
 * @throws {RuntimeError} `FailedPrecondition` when there is no perl or the host's syscall table
 *   is not x86_64, naming the way out (the insecure key `insecureKey`).
 */
export async function prepareConfinement(dir: string, insecureKey: string): Promise<Confinement> {
  if (!filterSupported()) {
    throw new RuntimeError(
      "FailedPrecondition",
      `Cannot confine helper processes on ${Deno.build.arch}: the seccomp filter is written for x86_64; set ${insecureKey} = true to run them unconfined`,
    );
  }
  const perl = await findPerl();
  if (perl === undefined) {
    throw new RuntimeError(
      "FailedPrecondition",
      `Cannot confine helper processes: perl is not installed (Debian's perl-base): install it, or set ${insecureKey} = true to run them unconfined`,
    );
  }
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  const filter = filterPath(dir);
  await Deno.writeFile(filter, encodeProgram(noPrivilegedFilesProgram()), { mode: 0o600 });
  return { perl, filter };
}
