/**
 * P10 and P9: the installed program as runc-style callers (podman, Docker's containerd shim) use it,
 * against runc and gVisor's runsc on the same busybox bundle, in one run:
 *
 * - one verb: `state ID` of a running container, median of N calls (P10; podman and Docker call
 *   5-6 verbs per container, each a new process);
 * - start: `create` + `start` until `state` says running;
 * - exec round trip: `exec ID true`;
 * - host memory per idle sandbox: the PSS of every process of the container (for Cocoon: the holder,
 *   QEMU and the file server; for runsc: its sandbox and gofer), found by the state root on their
 *   command lines and their descendants.
 *
 * runsc runs with `--network=none` (its ptrace platform: no KVM needed). Runtimes that are not
 * installed are skipped, saying so. Needs COCOON_BIN (the installed program, tests/utils/program.ts).
 *
 * Run alone: COCOON_BIN=... deno run --allow-all tests/bench/verb_bench.ts [calls]
 *
 * @module
 */
import { cocoonBin } from "../utils/program.ts";
import { withOciWorld } from "../e2e/oci_world.ts";
import { median, ratio, round, type Row } from "./figures.ts";
import { memoryKiB } from "./pod_env.ts";

/** One runtime as an OCI CLI: its argv prefix (with its state root) and its root. */
interface Cli {
  readonly name: string;
  readonly argv: readonly string[];
  readonly root: string;
  readonly env?: Readonly<Record<string, string>>;
}

interface CliFigures {
  readonly stateMs: number;
  readonly startMs: number;
  readonly execMs: number;
  readonly pssMiB: number;
}

/** `args` through the runtime's CLI, with its environment; stdout and stderr piped or discarded. */
function command(cli: Cli, args: readonly string[], out: "piped" | "null"): Deno.Command {
  const [cmd, ...pre] = cli.argv;
  return new Deno.Command(cmd ?? "", {
    args: [...pre, ...args],
    stdin: "null",
    stdout: out,
    stderr: out,
    ...(cli.env !== undefined ? { clearEnv: true, env: { ...cli.env } } : {}),
  });
}

async function run(cli: Cli, args: readonly string[]): Promise<{ ms: number; code: number; out: string }> {
  const t0 = performance.now();
  const r = await command(cli, args, "piped").output();
  const ms = performance.now() - t0;
  const dec = new TextDecoder();
  if (r.code !== 0) {
    throw new Error(`${cli.name} ${args.join(" ")}: exit ${r.code}: ${dec.decode(r.stderr).slice(-400)}`);
  }
  return { ms, code: r.code, out: dec.decode(r.stdout) };
}

/** Pids whose command line mentions `marker`, `also`, and all their descendants. */
async function treeOf(marker: string, also: number): Promise<number[]> {
  const procs: { pid: number; ppid: number; cmd: string }[] = [];
  for await (const e of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const cmd = (await Deno.readTextFile(`/proc/${e.name}/cmdline`)).replaceAll("\0", " ");
      const stat = await Deno.readTextFile(`/proc/${e.name}/stat`);
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      procs.push({ pid: Number(e.name), ppid, cmd });
    } catch { /* gone */ }
  }
  const set = new Set(
    procs.filter((p) => (p.cmd.includes(marker) || p.pid === also) && p.pid !== Deno.pid).map((p) => p.pid),
  );
  for (let grew = true; grew;) {
    grew = false;
    for (const p of procs) {
      if (!set.has(p.pid) && set.has(p.ppid)) {
        set.add(p.pid);
        grew = true;
      }
    }
  }
  return [...set];
}

/**
 * The host program as one file (how compile.sh bundled it before it split per verb), run by the
 * same deno: the "before" of the per-verb split, timed on the same container.
 */
async function oneFileCli(cocoon: Cli, dir: string): Promise<Cli | undefined> {
  const repo = new URL("../../", import.meta.url).pathname;
  const out = `${dir}/one-file/cocoon.js`;
  const r = await new Deno.Command(`${repo}node_modules/.bin/deno`, {
    args: ["bundle", "--quiet", "--output", out, `${repo}main.ts`],
    stdout: "null",
    stderr: "null",
  }).output().catch(() => null);
  if (r?.success !== true) return undefined;
  const deno = `${cocoon.argv[0]?.replace(/\/bin\/cocoon$/, "")}/lib/cocoon/lib/deno`;
  if (!(await Deno.stat(deno).then((s) => s.isFile, () => false))) return undefined; // compile mode
  return {
    ...cocoon,
    name: "cocoon-one-file",
    argv: [deno, "run", "--no-prompt", "--no-config", "--no-lock", "--quiet", "-A", out],
  };
}

async function stateMedian(cli: Cli, id: string, calls: number): Promise<number> {
  const ms: number[] = [];
  for (let i = 0; i < calls; i++) ms.push((await run(cli, ["state", id])).ms);
  return median(ms);
}

/**
 * `create`: only its exit status is awaited (its holder, runc's init or runsc's sandbox keeps the
 * container's stdio, here /dev/null, for as long as the container lives).
 */
async function create(cli: Cli, bundle: string, id: string): Promise<void> {
  const st = await command(cli, ["create", "--bundle", bundle, id], "null").spawn().status;
  if (!st.success) throw new Error(`${cli.name} create: exit ${st.code}`);
}

async function measure(
  cli: Cli,
  bundle: string,
  calls: number,
  also?: (id: string) => Promise<void>,
): Promise<CliFigures> {
  const id = `verb-${cli.name}-${crypto.randomUUID().slice(0, 6)}`;
  const t0 = performance.now();
  await create(cli, bundle, id);
  await run(cli, ["start", id]);
  for (let i = 0; i < 100; i++) {
    if (JSON.parse((await run(cli, ["state", id])).out).status === "running") break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const startMs = performance.now() - t0;
  try {
    await also?.(id);
    const stateMs = await stateMedian(cli, id, calls);
    const exec: number[] = [];
    for (let i = 0; i < Math.max(3, Math.floor(calls / 2)); i++) {
      exec.push((await run(cli, ["exec", id, "true"])).ms);
    }
    await new Promise((r) => setTimeout(r, 2000)); // idle
    let pss = 0;
    // the container's pid from `state` too: runc's container process names no state root
    const statePid = Number(JSON.parse((await run(cli, ["state", id])).out).pid ?? 0);
    for (const pid of await treeOf(cli.root, statePid)) {
      pss += (await memoryKiB(pid).catch(() => ({ pss: 0 }))).pss;
    }
    return { stateMs, startMs, execMs: median(exec), pssMiB: pss / 1024 };
  } finally {
    await run(cli, ["kill", id, "KILL"]).catch(() => {});
    await run(cli, ["delete", "--force", id]).catch(() => {});
  }
}

async function installed(bin: string): Promise<boolean> {
  const r = await new Deno.Command("sh", {
    args: ["-c", `command -v ${bin}`],
    stdout: "null",
    stderr: "null",
  })
    .output().catch(() => null);
  return r?.success === true;
}

/** Runs the section: rows for each runtime found, and the Cocoon ratios. */
export async function benchVerbs(
  opts: { calls?: number } = {},
): Promise<{ rows: Row[]; skipped: Record<string, string> }> {
  const calls = opts.calls ?? 10;
  const rows: Row[] = [];
  const skipped: Record<string, string> = {};
  await withOciWorld(async (w) => {
    const bundle = await w.bundle("verb-bundle", ["sleep", "3600"]);
    const figs = new Map<string, CliFigures>();
    const clis: Cli[] = [
      { name: "cocoon", argv: [cocoonBin()], root: w.root, env: { COCOON_CONFIG: w.config } },
    ];
    for (const [name, extra] of [["runc", []], ["runsc", ["--network=none"]]] as const) {
      if (!(await installed(name))) {
        skipped[name] = `${name} is not installed (apt-get install ${name})`;
        continue;
      }
      const root = `${w.dir}/${name}-root`;
      clis.push({ name, argv: [name, "--root", root, ...extra], root });
    }
    let oneFileMs = Number.NaN;
    for (const cli of clis) {
      const one = cli.name === "cocoon" ? await oneFileCli(cli, w.dir) : undefined;
      figs.set(
        cli.name,
        await measure(cli, bundle, calls, async (id) => {
          if (one !== undefined) oneFileMs = await stateMedian(one, id, calls);
        }),
      );
    }
    const c = figs.get("cocoon");
    if (c !== undefined && Number.isFinite(oneFileMs)) {
      rows.push(
        {
          name: "cocoon: one verb, host program as one file (before the per-verb split)",
          value: round(oneFileMs),
          unit: "ms",
        },
        {
          name: "cocoon: one verb, split per verb / one file",
          value: round(ratio(c.stateMs, oneFileMs)),
          unit: "x",
          goal: "<= 1",
        },
      );
    }
    for (const [name, f] of figs) {
      rows.push(
        {
          name: `${name}: one verb (state of a running container), median`,
          value: round(f.stateMs),
          unit: "ms",
          ...(name === "cocoon" ? { goal: "<= 50" } : {}),
        },
        { name: `${name}: create + start until running`, value: round(f.startMs), unit: "ms" },
        { name: `${name}: exec round trip (exec ID true), median`, value: round(f.execMs), unit: "ms" },
        { name: `${name}: host PSS of one idle container`, value: round(f.pssMiB), unit: "MiB" },
      );
    }
    const rs = figs.get("runsc");
    if (c !== undefined && rs !== undefined) {
      rows.push(
        {
          name: "P9 start / runsc start",
          value: round(ratio(c.startMs, rs.startMs)),
          unit: "x",
          goal: "<= 1.5",
        },
        {
          name: "P9 idle memory / runsc idle memory",
          value: round(ratio(c.pssMiB, rs.pssMiB)),
          unit: "x",
          goal: "<= 2",
        },
        { name: "P9 exec / runsc exec", value: round(ratio(c.execMs, rs.execMs)), unit: "x", goal: "<= 1" },
        { name: "P10 one verb / runsc one verb", value: round(ratio(c.stateMs, rs.stateMs)), unit: "x" },
      );
    }
    const rc = figs.get("runc");
    if (c !== undefined && rc !== undefined) {
      rows.push({
        name: "P10 one verb / runc one verb",
        value: round(ratio(c.stateMs, rc.stateMs)),
        unit: "x",
      });
    }
  });
  return { rows, skipped };
}

if (import.meta.main) {
  // deno-lint-ignore no-console -- the figures are this script's output
  const say = (l: string) => console.log(l);
  const r = await benchVerbs({ calls: Number(Deno.args[0] ?? 10) });
  for (const row of r.rows) {
    say(`${row.name}: ${row.value} ${row.unit}${row.goal ? ` (goal ${row.goal})` : ""}`);
  }
  for (const [k, v] of Object.entries(r.skipped)) say(`skipped ${k}: ${v}`);
}
