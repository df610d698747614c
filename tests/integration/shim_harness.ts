/**
 * Harness for the shim tests: a private real containerd whose PATH finds a
 * `containerd-shim-cocoon-v2` that runs the installed program (tests/utils/program.ts), a private daemon
 * directory, and either an embedded daemon on the in-memory sandbox (fake VM + agent) or none (the
 * shim starts the real daemon itself).
 *
 * @module
 */
import { loadConfig } from "../../runtime/config/load.ts";
import { resolveConfig } from "../../runtime/config/resolve.ts";
import { type Daemon, startDaemon } from "../../runtime/daemon/daemon.ts";
import { createLogger, type LogSink } from "../../runtime/log/logger.ts";
import { openSandboxRuntime } from "../../runtime/sandbox/mod.ts";
import { type Containerd, startContainerd } from "../utils/containerd.ts";
import { fakeConnector, FakeHost, FakeHypervisor, MemoryStore, RecordingShare } from "./sandbox_fakes.ts";
import { shimBin, writeProgramWrapper } from "../utils/program.ts";

export const RUNTIME = "io.containerd.cocoon.v2";

export interface ShimWorld {
  readonly dir: string;
  readonly daemonDir: string;
  readonly rootfs: string;
  readonly ctrd: Containerd;
  readonly daemon: Daemon | undefined;
  readonly host: FakeHost;
  /** What the fake shared filesystem shares now (guest path -> host source). */
  readonly share: RecordingShare;
  readonly logs: string[];
  /** Pod configuration files (runtime options ConfigPath) the embedded daemon was asked to open. */
  readonly configsAsked: string[];
  /** `ctr run --runtime io.containerd.cocoon.v2 ...flags --rootfs <rootfs> id ...cmd` */
  run(
    flags: readonly string[],
    id: string,
    cmd: readonly string[],
  ): Promise<{ code: number; stdout: string; stderr: string }>;
}

/** Puts the installed shim, under its name, in the directory containerd finds on its PATH. */
export async function writeShimLauncher(
  binDir: string,
  env: Readonly<Record<string, string>> = {},
): Promise<void> {
  await Deno.mkdir(binDir, { recursive: true });
  await writeProgramWrapper(`${binDir}/containerd-shim-cocoon-v2`, shimBin(), env);
}

/** Runs `fn` in a fresh world; everything started is stopped and removed afterwards. */
export async function withShimWorld(
  opts: {
    embedded: boolean;
    /** Prepares the world's directory before containerd starts: the rootfs, extra containerd env. */
    prepare?: (dir: string) => Promise<{ rootfs?: string; env?: Readonly<Record<string, string>> }>;
  },
  fn: (w: ShimWorld) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "cshim-" });
  const daemonDir = `${dir}/d`;
  const logs: string[] = [];
  const sink: LogSink = { write: (l) => void logs.push(l) };
  let ctrd: Containerd | undefined;
  let daemon: Daemon | undefined;
  const host = new FakeHost();
  const share = new RecordingShare();
  const configsAsked: string[] = [];
  try {
    await writeShimLauncher(`${dir}/bin`);
    const prepared = await opts.prepare?.(dir) ?? {};
    const rootfs = prepared.rootfs ?? `${dir}/rootfs`;
    if (prepared.rootfs === undefined) await Deno.mkdir(`${rootfs}/bin`, { recursive: true });
    if (opts.embedded) {
      daemon = await startEmbeddedDaemon(dir, daemonDir, { host, share, sink, configsAsked });
    }
    ctrd = await startContainerd({
      env: {
        PATH: `${dir}/bin:${Deno.env.get("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin"}`,
        COCOON_DAEMON_DIR: daemonDir,
        ...prepared.env,
      },
    });
    const c = ctrd;
    await fn({
      dir,
      daemonDir,
      rootfs,
      ctrd: c,
      daemon,
      host,
      share,
      logs,
      configsAsked,
      run: (flags, id, cmd) => c.ctr(["run", "--runtime", RUNTIME, ...flags, "--rootfs", rootfs, id, ...cmd]),
    });
  } catch (e) {
    const ctrdLog = ctrd ? await ctrd.log().catch(() => "") : "";
    const shimLog = await Deno.readTextFile(`${daemonDir}/shim.log`).catch(() => "");
    const daemonLog = await Deno.readTextFile(`${daemonDir}/daemon.log`).catch(() => "");
    // deno-lint-ignore no-console
    console.error(
      `--- containerd log ---\n${ctrdLog.slice(-3000)}\n--- shim log ---\n${shimLog.slice(-2000)}\n` +
        `--- daemon log ---\n${daemonLog.slice(-3000)}\n--- embedded log ---\n${logs.slice(-30).join("")}`,
    );
    throw e;
  } finally {
    await ctrd?.stop().catch(() => {});
    await daemon?.close({ deletePods: true }).catch(() => {});
    await killDaemonOf(daemonDir);
    await killProcessesUnder(dir);
    await unmountUnder(dir);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** Pids of processes (other than this one) whose command line mentions `dir` and matches `what`. */
export async function pidsMentioning(dir: string, what = ""): Promise<number[]> {
  const out: number[] = [];
  for await (const e of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(e.name) || Number(e.name) === Deno.pid) continue;
    const cmd = await Deno.readTextFile(`/proc/${e.name}/cmdline`).catch(() => "");
    if (cmd.includes(dir) && cmd.includes(what)) out.push(Number(e.name));
  }
  return out;
}

/** SIGKILLs every process that mentions `dir` (QEMU of a pod whose daemon died, a stray daemon). */
export async function killProcessesUnder(dir: string): Promise<void> {
  for (const pid of await pidsMentioning(dir)) {
    try {
      Deno.kill(pid, "SIGKILL");
    } catch { /* gone */ }
  }
}

/** Lazily unmounts everything under `dir`, deepest first. */
export async function unmountUnder(dir: string): Promise<void> {
  const info = await Deno.readTextFile("/proc/self/mountinfo").catch(() => "");
  const targets = info.split("\n").map((l) => l.split(" ")[4] ?? "")
    .filter((p) => p.startsWith(`${dir}/`)).sort((a, b) => b.length - a.length);
  for (const t of targets) {
    await new Deno.Command("umount", { args: ["-l", t], stdout: "null", stderr: "null" }).output().catch(
      () => {},
    );
  }
}

/** A daemon in this process on the in-memory sandbox (fake VM, agent, store and share). */
export async function startEmbeddedDaemon(
  dir: string,
  daemonDir: string,
  o: {
    host: FakeHost;
    share: RecordingShare;
    sink: LogSink;
    /** Each pod configuration file (runtime options ConfigPath) asked for, in order. */
    configsAsked?: string[];
    /** The daemon's metadata store (default a new one): share it to restart a daemon. */
    store?: MemoryStore;
  },
): Promise<Daemon> {
  const cfg = resolveConfig({
    hypervisor: { qemu: { kernel: "/k/vmlinuz", initrd: "/k/initrd.img", image: "/k/rootfs.erofs" } },
    // pods' own configuration files are written in the test's (root-owned, 0700) directory
    runtime: { state_dir: `${dir}/run`, internetworking_model: "none", pod_config_dirs: [dir] },
    agent: { dial_timeout: 5 },
  }, { file: "shim-test", dropIns: [] });
  const log = createLogger({ sink: o.sink, level: "debug" });
  const runtime = await openSandboxRuntime(cfg, {
    log,
    plugins: {
      hypervisor: new FakeHypervisor(o.host),
      store: o.store ?? new MemoryStore(),
      storage: { "9p": o.share },
    },
    connectAgent: fakeConnector(o.host),
    owner: { kind: "daemon", api: `${daemonDir}/api.sock` },
  });
  // A pod's own configuration file is loaded for real; its runtime uses the same fakes.
  const runtimeFor = async (path: string) => {
    o.configsAsked?.push(path);
    const file = await loadConfig({ path });
    return await openSandboxRuntime(file, {
      log,
      plugins: {
        hypervisor: new FakeHypervisor(o.host),
        store: new MemoryStore(),
        storage: { "9p": o.share },
      },
      connectAgent: fakeConnector(o.host),
      owner: runtime.owner,
    });
  };
  return await startDaemon({ dir: daemonDir, runtime, log, runtimeFor });
}

/** Kills the daemon a shim started in `daemonDir` (by its pid file), and waits for it to go. */
export async function killDaemonOf(daemonDir: string): Promise<void> {
  const text = await Deno.readTextFile(`${daemonDir}/daemon.pid`).catch(() => "");
  const pid = Number(text.trim());
  if (!Number.isInteger(pid) || pid <= 1 || pid === Deno.pid) return;
  try {
    Deno.kill(pid, "SIGTERM");
  } catch {
    return;
  }
  for (let i = 0; i < 100; i++) {
    if (!(await Deno.stat(`/proc/${pid}`).then(() => true, () => false))) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  try {
    Deno.kill(pid, "SIGKILL");
  } catch { /* gone */ }
}

/** Lines of `ctr events` about `id`, reduced to their topics. */
export function topicsOf(lines: readonly string[], id: string): string[] {
  return lines.filter((l) => l.includes(`"${id}"`)).flatMap((l) => /\/tasks\/[a-z-]+/.exec(l)?.[0] ?? []);
}
