/**
 * Finding, installing, starting and stopping virtiofsd. Debian 12 ships none; Debian 13's package
 * runs here when started through Debian 13's own glibc loader, so {@link installVirtiofsd}
 * downloads `virtiofsd libc6 libseccomp2 libcap-ng0` from trixie with a private apt list (the
 * system's apt setup is untouched) and unpacks them into a private prefix.
 *
 * @module
 */
import { confinedArgv, type Confinement } from "./seccomp/confine.ts";
import { RuntimeError } from "../errors.ts";
import { installTrixiePackages, sh } from "./trixie_packages.ts";

/** Default root of the private install. */
export const DEFAULT_VIRTIOFSD_ROOT = "/var/cache/cocoon/virtiofsd";
const PACKAGES = ["virtiofsd", "libc6", "libseccomp2", "libcap-ng0"];

/** How to run virtiofsd: `argv` followed by virtiofsd's own arguments. */
export interface VirtiofsdCommand {
  readonly argv: readonly string[];
  readonly version: string;
}

/** `virtiofsd --version` through `argv`; undefined when it does not run. */
export async function probeVirtiofsd(argv: readonly string[]): Promise<VirtiofsdCommand | undefined> {
  const first = argv[0];
  if (first === undefined) return undefined;
  try {
    await Deno.stat(first);
  } catch {
    return undefined;
  }
  const r = await sh('exec "$@" --version', argv).catch(() => ({ code: -1, out: "" }));
  const m = /virtiofsd\s+(\S+)/.exec(r.out);
  return r.code === 0 && m ? { argv, version: m[1] ?? "" } : undefined;
}

/** The command line of the private install under `root` (loader, library path, binary). */
export function privateArgv(root: string): string[] {
  const prefix = `${root}/prefix`;
  const lib = `${prefix}/usr/lib/x86_64-linux-gnu`;
  return [`${lib}/ld-linux-x86-64.so.2`, "--library-path", lib, `${prefix}/usr/libexec/virtiofsd`];
}

/**
 * Finds a working virtiofsd: the configured command (`virtio_fs_daemon`, a command line), then the
 * private install under `root`.
 *
 * @throws {RuntimeError} `FailedPrecondition` naming the binary and the alternative `shared_fs`.
 */
export async function findVirtiofsd(
  configured: string,
  root = DEFAULT_VIRTIOFSD_ROOT,
): Promise<VirtiofsdCommand> {
  const words = configured.split(/\s+/).filter((w) => w !== "");
  const found = (words.length > 0 ? await probeVirtiofsd(words) : undefined) ??
    await probeVirtiofsd(privateArgv(root));
  if (found === undefined) {
    throw new RuntimeError(
      "FailedPrecondition",
      `Cannot use shared_fs "virtio-fs": virtiofsd is not found at "${
        words[0] ?? ""
      }" nor installed under "${root}": ` +
        `install virtiofsd (installVirtiofsd() fetches Debian 13's) or set shared_fs = "virtio-9p" in [hypervisor]`,
    );
  }
  return found;
}

/**
 * Installs Debian 13's virtiofsd with its own glibc under `root` (cached: returns at once when it
 * runs already). Needs apt access to the host's Debian mirror.
 */
export function installVirtiofsd(
  opts: { root?: string; signal?: AbortSignal } = {},
): Promise<VirtiofsdCommand> {
  const root = opts.root ?? DEFAULT_VIRTIOFSD_ROOT;
  return installTrixiePackages({
    root,
    packages: PACKAGES,
    what: "virtiofsd",
    probe: () => probeVirtiofsd(privateArgv(root)),
    check: `${privateArgv(root).join(" ")} --version`,
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
}

export interface VirtiofsdProcess {
  readonly pid: number;
  readonly socket: string;
}

/**
 * Starts virtiofsd for `sharedDir` in its own session (it outlives this process and exits when
 * QEMU disconnects), logging to `<runDir>/virtiofsd.log`, and waits for its socket.
 *
 * Confined (the default): virtiofsd's own `--sandbox namespace` (it pivots into `sharedDir` in new
 * mount, pid and network namespaces; binds made later under the share propagate in, as the share
 * tree is a shared/slave pair: ./share_tree.ts), under the no-privileged-files seccomp filter
 * (./seccomp), so guest root cannot make setuid files, device nodes or file capabilities on the
 * host. Unconfined: `--sandbox none`, no filter.
 */
export async function startVirtiofsd(
  cmd: VirtiofsdCommand,
  opts: {
    sharedDir: string;
    runDir: string;
    cache: string;
    extraArgs?: readonly string[];
    confine?: Confinement;
  },
): Promise<VirtiofsdProcess> {
  await Deno.mkdir(opts.runDir, { recursive: true, mode: 0o700 });
  const socket = `${opts.runDir}/virtiofsd.sock`;
  const log = `${opts.runDir}/virtiofsd.log`;
  await Deno.remove(socket).catch(() => {});
  const daemon = [
    ...cmd.argv,
    "--socket-path",
    socket,
    "--shared-dir",
    opts.sharedDir,
    "--sandbox",
    opts.confine !== undefined ? "namespace" : "none",
    "--cache",
    opts.cache,
    "--announce-submounts",
    ...(opts.extraArgs ?? []),
  ];
  const args = opts.confine !== undefined ? confinedArgv(opts.confine, daemon) : daemon;
  const child = new Deno.Command("sh", {
    args: ["-c", 'log="$1"; shift; exec setsid "$@" >"$log" 2>&1', "sh", log, ...args],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  child.unref();
  const status = child.status.then((s) => s);
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (await Deno.stat(socket).then((s) => s.isSocket === true, () => false)) {
      return { pid: child.pid, socket };
    }
    const exited = await Promise.race([status, new Promise<null>((r) => setTimeout(() => r(null), 50))]);
    if (exited !== null) {
      const text = await Deno.readTextFile(log).catch(() => "");
      throw new RuntimeError(
        "Unavailable",
        `Cannot start virtiofsd: it exited with code ${exited.code}: ${
          text.trim().split("\n").slice(-3).join(" | ")
        }`,
      );
    }
  }
  await stopVirtiofsd({ pid: child.pid, socket });
  throw new RuntimeError("DeadlineExceeded", `Cannot start virtiofsd: no socket at "${socket}" after 10 s`);
}

/** Stops a virtiofsd (when its pid still names this socket) and removes the socket. */
export async function stopVirtiofsd(p: VirtiofsdProcess): Promise<void> {
  const alive = async () =>
    (await Deno.readTextFile(`/proc/${p.pid}/cmdline`).catch(() => "")).includes(p.socket);
  // Deno.kill needs unrestricted run permission; kill(1) through sh needs only "sh".
  const kill = (sig: string) => sh('kill -s "$1" "$2" 2>/dev/null', [sig, String(p.pid)]).catch(() => {});
  if (await alive()) {
    await kill("TERM");
    for (let i = 0; i < 100 && await alive(); i++) {
      if (i === 50) await kill("KILL");
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  await Deno.remove(p.socket).catch(() => {});
}
