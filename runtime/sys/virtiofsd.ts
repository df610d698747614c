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
import { closeOnExec } from "./libc_fd.ts";

/** Default root of the private install. */
export const DEFAULT_VIRTIOFSD_ROOT = "/var/cache/cocoon/virtiofsd";
const PACKAGES = ["virtiofsd", "libc6", "libseccomp2", "libcap-ng0"];

/** How to run virtiofsd: `argv` followed by virtiofsd's own arguments. */
export interface VirtiofsdCommand {
  readonly argv: readonly string[];
  readonly version: string;
}

/**
 * Where a working virtiofsd is remembered: every CLI verb resolves `shared_fs = "auto"`, and
 * running virtiofsd to ask its version cost each one a few milliseconds.
 */
const PROBE_CACHE = "/run/cocoon-virtiofsd-probe.json";

/**
 * `virtiofsd --version` through `argv`; undefined when it does not run. A command that answered
 * before is taken from `cache` while the files it names are unchanged (path, size, mtime, inode);
 * only root writes there, and the cache can only vouch for the very `argv` asked about.
 */
export async function probeVirtiofsd(
  argv: readonly string[],
  opts: { cache?: string } = {},
): Promise<VirtiofsdCommand | undefined> {
  const stamp = await stampOf(argv);
  if (stamp === undefined) return undefined;
  const cache = opts.cache ?? PROBE_CACHE;
  const key = argv.join("\u0000");
  const known = await readProbeCache(cache);
  const hit = known[key];
  if (hit !== undefined && hit.stamp === stamp) return { argv, version: hit.version };
  const r = await sh('exec "$@" --version', argv).catch(() => ({ code: -1, out: "" }));
  const m = /virtiofsd\s+(\S+)/.exec(r.out);
  if (r.code !== 0 || !m) return undefined;
  const version = m[1] ?? "";
  await writeProbeCache(cache, { ...known, [key]: { stamp, version } }).catch(() => {});
  return { argv, version };
}

/** The identity of the files `argv` names; undefined when its program is missing. */
async function stampOf(argv: readonly string[]): Promise<string | undefined> {
  const first = argv[0];
  if (first === undefined) return undefined;
  const parts: string[] = [];
  for (const a of argv) {
    if (!a.startsWith("/")) continue;
    try {
      const st = await Deno.stat(a);
      parts.push(`${a}:${st.size}:${st.mtime?.getTime() ?? 0}:${st.ino ?? 0}`);
    } catch {
      if (a === first) return undefined;
      parts.push(`${a}:-`);
    }
  }
  return parts.join("|");
}

type ProbeCache = Record<string, { stamp: string; version: string }>;

async function readProbeCache(path: string): Promise<ProbeCache> {
  try {
    const v: unknown = JSON.parse(await Deno.readTextFile(path));
    if (typeof v !== "object" || v === null || Array.isArray(v)) return {};
    const out: ProbeCache = {};
    for (const [k, e] of Object.entries(v)) {
      if (
        typeof e === "object" && e !== null && typeof e.stamp === "string" && typeof e.version === "string"
      ) {
        out[k] = { stamp: e.stamp, version: e.version };
      }
    }
    return out;
  } catch {
    return {};
  }
}

async function writeProbeCache(path: string, value: ProbeCache): Promise<void> {
  const tmp = `${path}.${Deno.pid}.tmp`;
  await Deno.writeTextFile(tmp, JSON.stringify(value), { mode: 0o600 });
  await Deno.rename(tmp, path);
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
  closeOnExec(); // it inherits no socket of ours (node:net's are inheritable)
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
