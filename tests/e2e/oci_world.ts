/**
 * Shared set-up for the OCI CLI end-to-end tests: real QEMU (TCG here) with the guest image that
 * has 9p (the tuned kernel, or Debian's generic flavour; built once and cached), a private state root and configuration,
 * busybox bundles, a launcher script for podman, and leak checks (QEMU processes, holders, sockets,
 * mounts, state directories).
 *
 * @module
 */
import { sandboxDir } from "../../runtime/sandbox/layout.ts";
import { sandboxId } from "../../runtime/ids.ts";
import { makeBusyboxRootfs } from "../../agent/testing/rootfs.ts";
import { buildGuestImage } from "../../runtime/guest/mod.ts";
import { minimalSpec } from "../../runtime/oci/spec.ts";
import { cocoonBin, writeProgramWrapper } from "../utils/program.ts";

/** QEMU, the image tools and root: what a real boot needs. */
export async function hostCanBoot(): Promise<boolean> {
  if (Deno.uid() !== 0) return false;
  for (const bin of ["qemu-system-x86_64", "apt-get", "mkfs.erofs", "depmod", "mount"]) {
    const r = await new Deno.Command("sh", {
      args: ["-c", `command -v ${bin}`],
      stdout: "null",
      stderr: "null",
    })
      .output().catch(() => null);
    if (r === null || !r.success) return false;
  }
  return true;
}

export interface OciWorld {
  readonly dir: string;
  readonly root: string;
  readonly config: string;
  readonly rootfs: string;
  /** Runs `cocoon <args>` with this world's config and root. */
  cocoon(
    args: string[],
    opts?: { stdin?: string },
  ): Promise<{ code: number; stdout: string; stderr: string }>;
  /** Spawns `cocoon <args>` with piped stdio (the holder inherits them). */
  spawn(args: string[]): Deno.ChildProcess;
  /** A bundle whose process runs `args`. */
  bundle(name: string, args: string[], opts?: { terminal?: boolean }): Promise<string>;
  /** A launcher script that runs this Cocoon with this world's config (for podman --runtime). */
  launcher(): Promise<string>;
}

/** Builds the world in a temp dir, runs `fn`, then kills and removes whatever is left. */
export async function withOciWorld(fn: (w: OciWorld) => Promise<void>): Promise<void> {
  const image = await buildGuestImage({ setCurrent: false });
  const dir = await Deno.makeTempDir({ prefix: "cocoon-oci-e2e-" });
  // A short state root: podman's ids are 64 characters, and the VM's sockets live under
  // <root>/sandboxes/<id>/vm/ (unix socket paths hold at most 107 bytes).
  const root = `/run/coe-${crypto.randomUUID().slice(0, 8)}`;
  const config = `${dir}/configuration.toml`;
  const accel = Deno.env.get("COCOON_TEST_ACCEL") === "kvm" ? "kvm" : "tcg";
  await Deno.writeTextFile(
    config,
    `[hypervisor.qemu]
kernel = "${image.kernel}"
initrd = "${image.initrd}"
image = "${image.rootfs ?? ""}"
accelerator = "${accel}"
default_memory = 512
default_maxmemory = 1024
default_maxvcpus = 2
[runtime]
state_dir = "${root}"
internetworking_model = "none"
[agent]
dial_timeout = 90
`,
  );
  const rootfs = await makeBusyboxRootfs(dir);
  const env = { COCOON_CONFIG: config };
  const w: OciWorld = {
    dir,
    root,
    config,
    rootfs,
    async cocoon(args, opts = {}) {
      const p = new Deno.Command(cocoonBin(), {
        args: [...args],
        // As `env -i`: the installed program must work from a bare environment (conmon gives one).
        clearEnv: true,
        env,
        cwd: dir,
        stdin: opts.stdin !== undefined ? "piped" : "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      if (opts.stdin !== undefined) {
        const wr = p.stdin.getWriter();
        await wr.write(new TextEncoder().encode(opts.stdin));
        await wr.close();
      }
      const out = await p.output();
      const dec = new TextDecoder();
      return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
    },
    spawn(args) {
      return new Deno.Command(cocoonBin(), {
        args: [...args],
        // As `env -i`: the installed program must work from a bare environment (conmon gives one).
        clearEnv: true,
        env,
        cwd: dir,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
    },
    async bundle(name, args, opts = {}) {
      const b = `${dir}/${name}`;
      await Deno.mkdir(b);
      const spec = minimalSpec(args, { terminal: opts.terminal ?? false, rootfs });
      await Deno.writeTextFile(`${b}/config.json`, JSON.stringify(spec));
      return b;
    },
    async launcher() {
      const path = `${dir}/cocoon-launcher`;
      await writeProgramWrapper(path, cocoonBin(), { COCOON_CONFIG: config });
      return path;
    },
  };
  try {
    await fn(w);
  } finally {
    for (const pid of [...await pidsMatching(dir), ...await pidsMatching(root)]) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch { /* gone */ }
    }
    for (const m of [...await mountsUnder(dir), ...await mountsUnder(root)].reverse()) {
      await new Deno.Command("umount", { args: ["-l", m] }).output();
    }
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
}

/** Pids whose command line mentions `marker` (QEMU of a sandbox, holders of a root). */
export async function pidsMatching(marker: string, what?: string): Promise<number[]> {
  return await pidsWhere((argv) => {
    const cmd = argv.join(" ");
    return cmd.includes(marker) && (what === undefined || cmd.includes(what));
  });
}

/** Pids (not this process) whose argv satisfies `pred`. */
export async function pidsWhere(pred: (argv: string[]) => boolean): Promise<number[]> {
  const out: number[] = [];
  for await (const e of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(e.name) || Number(e.name) === Deno.pid) continue;
    const argv = (await Deno.readTextFile(`/proc/${e.name}/cmdline`).catch(() => "")).split("\0");
    if (pred(argv)) out.push(Number(e.name));
  }
  return out;
}

export async function mountsUnder(dir: string): Promise<string[]> {
  const text = await Deno.readTextFile("/proc/self/mountinfo");
  return text.split("\n").map((l) => l.split(" ")[4] ?? "").filter((m) => m.startsWith(dir));
}

export async function socketsUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for await (const e of Deno.readDir(d)) {
      const p = `${d}/${e.name}`;
      if (e.isDirectory) await walk(p);
      else if ((await Deno.lstat(p)).isSocket) out.push(p);
    }
  };
  await walk(dir).catch(() => {});
  return out;
}

/** Everything a container may leave: none of it may remain after delete. */
export async function leftovers(w: OciWorld, id: string): Promise<Record<string, unknown>> {
  const exists = (p: string) => Deno.stat(p).then(() => true, () => false);
  // Match this world's own processes only: other tests (and other users of the machine) run QEMUs
  // too, and a bare id such as "hi" is a substring of most QEMU command lines.
  const vmDir = `${sandboxDir(w.root, sandboxId(id))}/`;
  return {
    qemu: await pidsWhere((argv) =>
      argv.some((a) => a.includes("qemu-system")) && argv.some((a) => a.includes(vmDir))
    ),
    holder: await pidsWhere((argv) => argv.includes("__holder") && argv.includes(id)),
    mounts: [...await mountsUnder(w.dir), ...await mountsUnder(w.root)].filter((m) =>
      !m.includes("/podman/")
    ),
    sockets: await socketsUnder(w.root),
    ociDir: await exists(`${w.root}/oci/${id}`),
    sandboxDir: await exists(sandboxDir(w.root, sandboxId(id))),
  };
}

export const CLEAN = { qemu: [], holder: [], mounts: [], sockets: [], ociDir: false, sandboxDir: false };

/** Polls `fn` until it returns true or `ms` pass. */
export async function eventually(fn: () => Promise<boolean>, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await fn()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return await fn();
}
