/**
 * File I/O benchmark, in one run: the same busybox sh workload (sequential write of a file with
 * fsync, sequential read of it back, small-file create, stat of those files) in these places:
 *
 * 1. the host, directly (`/bin/busybox sh` in a temp dir): the baseline;
 * 2. a runc container on the host with the work dir bind-mounted at /data, and the same under
 *    gVisor's runsc (ptrace platform, `--network=none`), the peer a host without KVM would pick;
 * 3. a Cocoon container (real QEMU, real agent, crun in the guest) whose /data is a bind-mounted
 *    volume shared over virtio-9p (`shared_fs = "virtio-9p"`);
 * 4. the same over virtio-fs (`shared_fs = "virtio-fs"`, virtiofsd installed by the plugin);
 * 5. a Cocoon container whose rootfs is an ext4 image file (mkfs.ext4 -d), which the core
 *    hot-plugs as a virtio-blk disk; /data is a directory of that filesystem. Beside it, always, a
 *    sequential O_DIRECT read of the guest's own root disk (the erofs image on virtio-blk, bound
 *    read-only into a container), so virtio-blk has a read figure even while the ext4 container
 *    cannot be created (a failed place is reported as a `skipped:` row with the error).
 *
 * Every work dir (and the image file) lives on the same host filesystem. Times are taken inside
 * the workload with adjtimex(2) (busybox `adjtimex`, µs; busybox `date` has no %N), so container
 * start and VM boot are not counted. The read uses O_DIRECT when the filesystem accepts it (a
 * 1 MiB probe), else the page cache as that filesystem keeps it; the row names say which.
 * Under TCG (this host) the guest figures measure emulation as much as the transport.
 *
 * Run: node_modules/.bin/deno task bench fileio (root)
 *
 * @module
 */
import { createLogger, nullSink } from "../../runtime/log/logger.ts";
import { resolveConfig } from "../../runtime/config/resolve.ts";
import { resolveSharedFsAuto } from "../../runtime/config/shared_fs.ts";
import { minimalSpec, parseOciSpec } from "../../runtime/oci/spec.ts";
import { openSandboxRuntime, Sandbox } from "../../runtime/sandbox/mod.ts";
import { makeBusyboxRootfs } from "../../agent/testing/rootfs.ts";
import { installVirtiofsd } from "../../plugins/storage/virtio-fs/mod.ts";
import { ensureGuestImage } from "../utils/guest.ts";

export interface FileIoBenchRow {
  readonly name: string;
  readonly value: number;
  readonly unit: string;
  readonly goal?: string;
}

export interface FileIoBenchOptions {
  /** Size of the sequential file (default 64 MiB). */
  readonly mib?: number;
  /** Number of small files (default 500). */
  readonly files?: number;
  readonly signal?: AbortSignal;
}

/** One place's figures: seconds per phase and how the read went. */
export interface FileIoResult {
  readonly writeS: number;
  readonly readS: number;
  readonly createS: number;
  readonly statS: number;
  readonly readMode: "direct" | "cached";
}

type SharedFs = "virtio-9p" | "virtio-fs";
/** A container's figures, or why it could not run. */
type Outcome = FileIoResult | Error;

const must = (o: Outcome | undefined, what: string): FileIoResult => {
  if (o === undefined) throw new Error(`The ${what} container did not run`);
  if (o instanceof Error) throw o;
  return o;
};

/**
 * `mark <phase>`: prints the phase and the time, µs from adjtimex(2), or where the kernel has no
 * adjtimex (gVisor) the 10 ms /proc/uptime.
 */
const MARK =
  'mark() { echo "mark $1"; busybox adjtimex 2>/dev/null || echo "uptime $(busybox cut -d" " -f1 /proc/uptime)"; }';

/** The workload: `sh -c SCRIPT sh <dir> <mib> <files>`; prints `mark <phase>` + adjtimex output. */
export const WORKLOAD = [
  'cd "$1" || exit 20',
  MARK,
  "mode=cached",
  "mark write-start",
  'busybox dd if=/dev/zero of=seq bs=1M count="$2" conv=fsync 2>/dev/null || exit 21',
  "mark write-end",
  "busybox dd if=seq of=/dev/null bs=1M count=1 iflag=direct 2>/dev/null && mode=direct",
  'echo "readmode $mode"',
  "mark read-start",
  "if [ $mode = direct ]; then busybox dd if=seq of=/dev/null bs=1M iflag=direct 2>/dev/null || exit 22; else busybox dd if=seq of=/dev/null bs=1M 2>/dev/null || exit 22; fi",
  "mark read-end",
  "busybox mkdir small || exit 23",
  "mark create-start",
  'i=0; while [ $i -lt "$3" ]; do echo x > small/f$i || exit 24; i=$((i+1)); done',
  "mark create-end",
  "busybox ls -l small > /dev/null || exit 25",
  "mark stat-end",
  "busybox rm -rf seq small",
].join("\n");

/** Guest-disk read: `sh -c RAW_READ sh <mib>` reads the guest's own virtio-blk disk with O_DIRECT. */
export const RAW_READ = [
  MARK,
  "mark read-start",
  'busybox dd if=/dev/vda of=/dev/null bs=1M count="$1" iflag=direct 2>/dev/null || exit 22',
  "mark read-end",
].join("\n");

/** The `mark` times (s) and the read mode line of a workload's output. Pure. */
function parseMarks(out: string): { at: (k: string) => number; mode?: "direct" | "cached" } {
  const marks = new Map<string, number>();
  let current: string | undefined;
  let sec: number | undefined;
  let mode: "direct" | "cached" | undefined;
  for (const line of out.split("\n")) {
    const m = /^mark (\S+)$/.exec(line.trim());
    if (m) {
      current = m[1];
      sec = undefined;
      continue;
    }
    const r = /^readmode (direct|cached)$/.exec(line.trim());
    if (r) mode = r[1] === "direct" ? "direct" : "cached";
    const up = /^uptime (\d+(?:\.\d+)?)$/.exec(line.trim());
    if (up && current !== undefined) marks.set(current, Number(up[1]));
    const s = /time\.tv_sec:\s*(\d+)/.exec(line);
    if (s) sec = Number(s[1]);
    const u = /time\.tv_usec:\s*(\d+)/.exec(line);
    if (u && current !== undefined && sec !== undefined) marks.set(current, sec + Number(u[1]) / 1e6);
  }
  const at = (k: string): number => {
    const v = marks.get(k);
    if (v === undefined) throw new Error(`The workload output has no "${k}" mark: ${out.slice(-300)}`);
    return v;
  };
  return { at, ...(mode ? { mode } : {}) };
}

/** Parses the workload's output into phase durations. Pure. */
export function parseWorkload(out: string): FileIoResult {
  const { at, mode } = parseMarks(out);
  if (mode === undefined) throw new Error(`The workload output has no read mode: ${out.slice(-300)}`);
  return {
    writeS: at("write-end") - at("write-start"),
    readS: at("read-end") - at("read-start"),
    createS: at("create-end") - at("create-start"),
    statS: at("stat-end") - at("create-end"),
    readMode: mode,
  };
}

/** Seconds of the raw disk read. Pure. */
export function parseRawRead(out: string): number {
  const { at } = parseMarks(out);
  return at("read-end") - at("read-start");
}

async function sh(cmd: string, args: string[], signal?: AbortSignal): Promise<string> {
  const out = await new Deno.Command(cmd, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    ...(signal ? { signal } : {}),
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(
      `${cmd} ${args.join(" ")} failed (${out.code}): ${new TextDecoder().decode(out.stderr).trim()}`,
    );
  }
  return text;
}

const args = (dir: string, mib: number, files: number): string[] => [
  "sh",
  "-c",
  WORKLOAD,
  "sh",
  dir,
  String(mib),
  String(files),
];

async function onHost(mib: number, files: number, signal?: AbortSignal): Promise<FileIoResult> {
  const dir = await Deno.makeTempDir({ prefix: "cocoon-fiobench-host-" });
  try {
    return parseWorkload(await sh("/bin/busybox", args(dir, mib, files), signal));
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** The OCI CLIs run on the host as peers: runc, and gVisor's runsc (ptrace platform, no network). */
const PEERS = { runc: [], runsc: ["--network=none"] } as const;

export async function underPeer(
  cli: keyof typeof PEERS,
  mib: number,
  files: number,
  signal?: AbortSignal,
): Promise<FileIoResult> {
  const dir = await Deno.makeTempDir({ prefix: `cocoon-fiobench-${cli}-` });
  const id = `fio-${cli}-${crypto.randomUUID().slice(0, 6)}`;
  const root = `${dir}/state`;
  try {
    await makeBusyboxRootfs(dir);
    await Deno.mkdir(`${dir}/vol`);
    const spec = minimalSpec(["/bin/busybox", ...args("/data", mib, files)]);
    const mounts = Array.isArray(spec["mounts"]) ? spec["mounts"] : [];
    await Deno.writeTextFile(
      `${dir}/config.json`,
      JSON.stringify({
        ...spec,
        mounts: [...mounts, {
          destination: "/data",
          type: "bind",
          source: `${dir}/vol`,
          options: ["rbind", "rw"],
        }],
        linux: { namespaces: [{ type: "pid" }, { type: "ipc" }, { type: "uts" }, { type: "mount" }] },
      }),
    );
    return parseWorkload(
      await sh(
        cli,
        ["--root", root, ...PEERS[cli], "--log", `${dir}/${cli}.log`, "run", "--bundle", dir, id],
        signal,
      ),
    );
  } finally {
    await sh(cli, ["--root", root, "delete", "-f", id]).catch(() => {});
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** `v` when it is a JSON object, else an empty one. */
function objectOr(v: unknown): Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v) ? { ...v } : {};
}

/** An ext4 image file holding a busybox rootfs and an empty /data, with room for the workload. */
async function ext4Rootfs(dir: string, mib: number, signal?: AbortSignal): Promise<string> {
  const src = await makeBusyboxRootfs(`${dir}/ext4src`);
  await Deno.mkdir(`${src}/data`);
  const img = `${dir}/rootfs.ext4`;
  await sh("mkfs.ext4", ["-q", "-F", "-d", src, img, `${mib * 2 + 64}M`], signal);
  return img;
}

/** Cocoon containers in one sandbox: /data over `sharedFs`, and (with `blk`) a virtio-blk rootfs. */
async function inCocoon(
  sharedFs: SharedFs,
  blk: boolean,
  mib: number,
  files: number,
  signal?: AbortSignal,
): Promise<{ shared: Outcome; blk?: Outcome; diskReadS?: number | Error }> {
  const image = await ensureGuestImage(signal ? { signal } : {});
  const dir = await Deno.makeTempDir({ prefix: `cocoon-fiobench-${sharedFs}-` });
  const id = `fio-${sharedFs === "virtio-fs" ? "vfs" : "9p"}-${crypto.randomUUID().slice(0, 6)}`;
  let sb: Sandbox | undefined;
  try {
    const cfg = resolveConfig({
      hypervisor: {
        qemu: {
          kernel: image.kernel,
          initrd: image.initrd,
          image: image.rootfs ?? "",
          accelerator: Deno.env.get("COCOON_TEST_ACCEL") === "kvm" ? "kvm" : "tcg",
          default_memory: 512,
          default_maxmemory: 1024,
          default_maxvcpus: 2,
          shared_fs: sharedFs,
        },
      },
      runtime: { state_dir: `${dir}/run`, store: "fs", internetworking_model: "none" },
      agent: { dial_timeout: 120 },
    }, { file: "bench", dropIns: [] });
    const logFile = Deno.env.get("COCOON_BENCH_LOG");
    const sink = logFile
      ? { write: (l: string) => Deno.writeTextFileSync(logFile, l, { append: true }) }
      : nullSink;
    const rt = await openSandboxRuntime(cfg, { log: createLogger({ sink, level: "debug" }) });
    const rootfs = await makeBusyboxRootfs(dir);
    await Deno.mkdir(`${dir}/vol`);
    sb = await Sandbox.create(rt, { id, ...(signal ? { signal } : {}) });
    const exec = async (cid: string, root: string, raw: Record<string, unknown>): Promise<string> => {
      if (sb === undefined) throw new Error("No sandbox");
      const spec = parseOciSpec(raw, "bench");
      await sb.act({
        kind: "create-container",
        opts: { id: cid, spec, rootfs: root, ...(signal ? { signal } : {}) },
      });
      const io = sb.io(cid);
      const out = new Response(io.stdout).text();
      const err = new Response(io.stderr).text();
      await sb.act({ kind: "start-container", containerId: cid });
      const st = await sb.wait(cid);
      const text = await out;
      if (st.exitStatus !== 0) {
        throw new Error(`The workload in "${cid}" exited with ${st.exitStatus}: ${(await err).slice(-300)}`);
      }
      return text;
    };
    const run = async (cid: string, root: string, volume: boolean): Promise<FileIoResult> => {
      const raw = minimalSpec(["/bin/busybox", ...args("/data", mib, files)]);
      const base = Array.isArray(raw["mounts"]) ? raw["mounts"] : [];
      const vol = { destination: "/data", type: "bind", source: `${dir}/vol`, options: ["rbind", "rw"] };
      return parseWorkload(await exec(cid, root, { ...raw, mounts: volume ? [...base, vol] : base }));
    };
    const settle = <T>(p: Promise<T>): Promise<T | Error> =>
      p.then((r) => r, (e: unknown) => (e instanceof Error ? e : new Error(String(e))));
    // The agent gives a new shared-fs rootfs 3 s to appear; under TCG load that is sometimes short
    // (seen once over 9p), so a create that fails that way is tried once more with a new id.
    const shared = await settle(
      run(`${id}-sh`, rootfs, true).catch((e: unknown) => {
        if (!(e instanceof Error) || !/root filesystem .* does not exist/.test(e.message)) throw e;
        return run(`${id}-sh2`, rootfs, true);
      }),
    );
    if (!blk) return { shared };
    const blkOut = await settle(ext4Rootfs(dir, mib, signal).then((img) => run(`${id}-blk`, img, false)));
    // The guest's own root disk (the erofs image, virtio-blk, read-only) bound into a container:
    // a sequential O_DIRECT read through virtio-blk that needs no hot-plug.
    const rawSpec = minimalSpec(["/bin/busybox", "sh", "-c", RAW_READ, "sh", String(mib)]);
    const rawMounts = Array.isArray(rawSpec["mounts"]) ? rawSpec["mounts"] : [];
    const diskRead = await settle(
      exec(`${id}-disk`, rootfs, {
        ...rawSpec,
        mounts: [...rawMounts, {
          destination: "/dev/vda",
          type: "bind",
          source: "/dev/vda",
          options: ["bind", "ro"],
        }],
        linux: {
          ...objectOr(rawSpec["linux"]),
          resources: { devices: [{ allow: true, type: "b", access: "r" }] },
        },
      }).then(parseRawRead),
    );
    return { shared, blk: blkOut, diskReadS: diskRead };
  } finally {
    await sb?.act({ kind: "delete", opts: { force: true } }).catch(() => {});
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/**
 * What the default `shared_fs` of configs/configuration-qemu.toml resolves to on this host
 * ("auto" is decided the way `loadConfig` does; "virtio-9p" if unreadable).
 */
async function defaultSharedFs(): Promise<{ configured: string; resolved: string }> {
  const text = await Deno.readTextFile(new URL("../../configs/configuration-qemu.toml", import.meta.url))
    .catch(() => "");
  const configured = /^\s*shared_fs\s*=\s*"([^"]+)"/m.exec(text)?.[1] ?? "virtio-9p";
  if (configured !== "auto") return { configured, resolved: configured };
  const cfg = await resolveSharedFsAuto(
    resolveConfig({ hypervisor: { qemu: { kernel: "/k", shared_fs: "auto" } } }, {
      file: "bench",
      dropIns: [],
    }),
  );
  return { configured, resolved: cfg.hypervisor.sharedFs };
}

const round = (v: number, d: number): number => Math.round(v * 10 ** d) / 10 ** d;

function metrics(
  r: FileIoResult,
  mib: number,
  files: number,
): { key: string; value: number; unit: string }[] {
  return [
    { key: "sequential write (fsync)", value: round(mib / r.writeS, 1), unit: "MiB/s" },
    { key: `sequential read (${r.readMode})`, value: round(mib / r.readS, 1), unit: "MiB/s" },
    { key: "small-file create", value: Math.round(files / r.createS), unit: "ops/s" },
    { key: "stat (ls -l)", value: Math.round(files / r.statS), unit: "ops/s" },
  ];
}

/** `<place> / <against> <metric>` rows: each metric of a place divided by the same metric of `base`. */
function ratioRows(
  place: string,
  ms: readonly { key: string; value: number }[],
  against: string,
  base: readonly { value: number }[],
): FileIoBenchRow[] {
  return ms.flatMap((m, i) => {
    const b = base[i];
    return b === undefined ? [] : [{
      name: `${place} / ${against} ${m.key.replace(/ \(.*\)$/, "")}`,
      value: round(m.value / b.value, 3),
      unit: "x",
    }];
  });
}

/** Runs every place and returns rows: figures per place and metric, and ratios to the host. */
export async function benchFileIo(opts: FileIoBenchOptions = {}): Promise<{ rows: FileIoBenchRow[] }> {
  const mib = opts.mib ?? 64;
  const files = opts.files ?? 500;
  const signal = opts.signal;
  const rows: FileIoBenchRow[] = [];
  const host = await onHost(mib, files, signal);
  const hostM = metrics(host, mib, files);
  const places: [string, () => Promise<FileIoResult>][] = [];
  let nine: Promise<{ shared: Outcome; blk?: Outcome; diskReadS?: number | Error }> | undefined;
  const nineOnce = () => (nine ??= inCocoon("virtio-9p", true, mib, files, signal));
  places.push(["runc", () => underPeer("runc", mib, files, signal)]);
  places.push(["runsc", () => underPeer("runsc", mib, files, signal)]);
  places.push(["cocoon virtio-9p", async () => must((await nineOnce()).shared, "virtio-9p")]);
  places.push(["cocoon virtio-fs", async () => {
    await installVirtiofsd(signal ? { signal } : {});
    return must((await inCocoon("virtio-fs", false, mib, files, signal)).shared, "virtio-fs");
  }]);
  places.push([
    "cocoon virtio-blk (ext4 rootfs image)",
    async () => must((await nineOnce()).blk, "virtio-blk"),
  ]);
  for (const m of hostM) rows.push({ name: `host ${m.key} (baseline)`, value: m.value, unit: m.unit });
  const results = new Map<string, FileIoResult>();
  for (const [place, run] of places) {
    let r: FileIoResult;
    try {
      r = await run();
    } catch (e) {
      const why = (e instanceof Error ? e.message : String(e)).replaceAll("\n", " ").slice(0, 200);
      rows.push({ name: `${place} skipped: ${why}`, value: Number.NaN, unit: "-" });
      continue;
    }
    results.set(place, r);
    const ms = metrics(r, mib, files);
    for (const m of ms) rows.push({ name: `${place} ${m.key}`, value: m.value, unit: m.unit });
    rows.push(...ratioRows(place, ms, "host", hostM));
  }
  if (nine !== undefined) {
    const d = (await nine).diskReadS;
    const place = "cocoon virtio-blk raw read of the guest's erofs root disk (direct)";
    const hostRead = hostM[1]?.value ?? Number.NaN;
    if (d instanceof Error) {
      const why = d.message.replaceAll("\n", " ").slice(0, 200);
      rows.push({ name: `${place} skipped: ${why}`, value: Number.NaN, unit: "-" });
    } else if (d !== undefined) {
      rows.push({ name: place, value: round(mib / d, 1), unit: "MiB/s" });
      rows.push({ name: `${place} / host sequential read`, value: round(mib / d / hostRead, 3), unit: "x" });
    }
  }
  const runsc = results.get("runsc");
  for (const [place, r] of results) {
    if (runsc === undefined || !place.startsWith("cocoon ")) continue;
    rows.push(...ratioRows(place, metrics(r, mib, files), "runsc", metrics(runsc, mib, files)));
  }
  const p9 = results.get("cocoon virtio-9p");
  const vfs = results.get("cocoon virtio-fs");
  if (p9 !== undefined && vfs !== undefined) {
    // Geometric mean of the per-metric speed ratios virtio-fs / virtio-9p (> 1: virtio-fs faster).
    const a = metrics(vfs, mib, files);
    const b = metrics(p9, mib, files);
    const logs = a.map((m, i) => Math.log(m.value / (b[i]?.value ?? Number.NaN)));
    const gm = Math.exp(logs.reduce((x, y) => x + y, 0) / logs.length);
    const faster = gm >= 1 ? "virtio-fs" : "virtio-9p";
    const { configured, resolved: def } = await defaultSharedFs();
    rows.push({
      name: "virtio-fs / virtio-9p (geometric mean of the 4 metrics)",
      value: round(gm, 3),
      unit: "x",
    });
    rows.push({
      name: `faster shared_fs here: ${faster}; default shared_fs: ${
        configured === def ? def : `${configured} -> ${def}`
      } (${faster === def ? "the faster one is the default" : "the faster one is NOT the default"})`,
      value: faster === def ? 1 : 0,
      unit: "bool",
    });
  }
  return { rows };
}

if (import.meta.main) {
  const r = await benchFileIo();
  // deno-lint-ignore no-console
  for (const row of r.rows) console.log(`${row.name}: ${row.value} ${row.unit}`);
}
