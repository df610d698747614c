/**
 * Test helper: containerd 1.7.24 from Debian 13 (trixie), installed privately and cached under
 * the repository's `.cache/containerd-1.7/`, and a private instance of it with the experimental
 * CRI sandbox server (`ENABLE_CRI_SANDBOXES=1`) and a runtime `cocoon` whose
 * `sandbox_mode = "shim"`: containerd then drives pods through the shim's own
 * `containerd.runtime.sandbox.v1.Sandbox` ttRPC service.
 *
 * Debian 13's containerd binaries need glibc 2.34 and run on Debian 12 as they are. The install
 * uses a private apt source list (the system's apt setup is untouched), `apt-get download` and
 * `dpkg-deb -x`.
 *
 * ```ts
 * const bin = await installContainerd17();
 * const ctrd = await startContainerd17(dir, { bin, pauseImage, env });
 * try { ... } finally { await ctrd.stop(); }
 * ```
 *
 * @module
 */
import { installTrixiePackages } from "../../runtime/sys/trixie_packages.ts";
import { spawnContainerd } from "./containerd_process.ts";

const VERSION_RE = /\s(1\.7\.\S+)/;
/** Default cache directory: `<repo>/.cache/containerd-1.7`. */
export const CONTAINERD17_CACHE = new URL("../../.cache/containerd-1.7", import.meta.url).pathname;

/** Paths of the private containerd 1.7 install. */
export interface Containerd17Bin {
  readonly containerd: string;
  readonly ctr: string;
  /** `containerd --version` output's version, e.g. "1.7.24~ds1". */
  readonly version: string;
}

const dec = new TextDecoder();

async function sh(script: string, args: readonly string[], signal?: AbortSignal) {
  const out = await new Deno.Command("sh", {
    args: ["-c", script, "sh", ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    ...(signal ? { signal } : {}),
  }).output();
  return { code: out.code, out: dec.decode(out.stdout) + dec.decode(out.stderr) };
}

async function probe(root: string): Promise<Containerd17Bin | undefined> {
  const containerd = `${root}/prefix/usr/bin/containerd`;
  const ctr = `${root}/prefix/usr/bin/ctr`;
  const r = await sh('exec "$1" --version', [containerd]).catch(() => ({ code: -1, out: "" }));
  const m = VERSION_RE.exec(r.out);
  if (r.code !== 0 || m === null || !(m[1] ?? "").startsWith("1.7")) return undefined;
  return { containerd, ctr, version: m[1] ?? "" };
}

/**
 * Installs Debian 13's `containerd` package (1.7.x) under `root` and returns its binaries; cached:
 * returns at once when the install runs already. Needs apt access to the host's Debian mirror.
 */
export function installContainerd17(
  opts: { root?: string; signal?: AbortSignal } = {},
): Promise<Containerd17Bin> {
  const root = opts.root ?? CONTAINERD17_CACHE;
  return installTrixiePackages({
    root,
    packages: ["containerd"],
    what: "containerd 1.7",
    probe: () => probe(root),
    check: `${root}/prefix/usr/bin/containerd --version`,
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
}

/** A private containerd 1.7 with CRI (what {@link startContainerd17} returns). */
export interface Containerd17 {
  readonly grpcAddress: string;
  readonly ttrpcAddress: string;
  readonly root: string;
  readonly state: string;
  readonly logPath: string;
  readonly pid: number;
  /** Runs the 1.7 `ctr -a <grpcAddress> ...args`. */
  ctr(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  /** containerd's log so far. */
  log(): Promise<string>;
  /** SIGTERM (SIGKILL after 5 s) and waits. Idempotent. */
  stop(): Promise<void>;
}

/** Options of {@link startContainerd17}. */
export interface Containerd17Options {
  readonly bin: Containerd17Bin;
  /** CRI `sandbox_image`. */
  readonly pauseImage: string;
  /** Environment of containerd (PATH finding `containerd-shim-cocoon-v2`, COCOON_* variables). */
  readonly env: Readonly<Record<string, string>>;
  /** Sandbox mode of the `cocoon` runtime: "shim" (default) or "podsandbox". */
  readonly sandboxMode?: "shim" | "podsandbox";
  readonly logLevel?: "debug" | "info";
}

/** The config.toml of {@link startContainerd17} for the instance under `dir`. Pure. */
export function containerd17Config(
  dir: string,
  o: { pauseImage: string; sandboxMode: string; logLevel: string },
): string {
  const cri = '[plugins."io.containerd.grpc.v1.cri"]';
  return `version = 2
root = "${dir}/root"
state = "${dir}/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
[grpc]
  address = "${dir}/ctrd.sock"
[ttrpc]
  address = "${dir}/ctrd.sock.ttrpc"
[debug]
  level = "${o.logLevel}"
[plugins."io.containerd.internal.v1.opt"]
  path = "${dir}/opt"
${cri}
  sandbox_image = "${o.pauseImage}"
  disable_apparmor = true
  enable_selinux = false
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "${dir}/cni/bin"
    conf_dir = "${dir}/cni/conf"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "cocoon"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.cocoon]
      runtime_type = "io.containerd.cocoon.v2"
      sandbox_mode = "${o.sandboxMode}"
`;
}

/**
 * Starts containerd 1.7 under `dir` with `ENABLE_CRI_SANDBOXES=1` (the CRI sandbox server) and
 * waits until `ctr version` answers.
 */
export async function startContainerd17(dir: string, opts: Containerd17Options): Promise<Containerd17> {
  const grpcAddress = `${dir}/ctrd.sock`;
  const logPath = `${dir}/containerd.log`;
  await Deno.mkdir(`${dir}/cni/conf`, { recursive: true });
  await Deno.mkdir(`${dir}/cni/bin`, { recursive: true });
  await Deno.writeTextFile(
    `${dir}/config.toml`,
    containerd17Config(dir, {
      pauseImage: opts.pauseImage,
      sandboxMode: opts.sandboxMode ?? "shim",
      logLevel: opts.logLevel ?? "info",
    }),
  );
  const c = await spawnContainerd({
    containerd: opts.bin.containerd,
    ctr: opts.bin.ctr,
    configPath: `${dir}/config.toml`,
    grpcAddress,
    logPath,
    env: { ...opts.env, ENABLE_CRI_SANDBOXES: "1" },
    what: "containerd 1.7",
  });
  return {
    grpcAddress,
    ttrpcAddress: `${grpcAddress}.ttrpc`,
    root: `${dir}/root`,
    state: `${dir}/state`,
    logPath,
    pid: c.pid,
    ctr: c.ctr,
    log: () => Deno.readTextFile(logPath),
    stop: c.stop,
  };
}
