/**
 * Helpers of the sandbox end-to-end tests: host checks, a runtime on a private state dir, and the
 * leak probes (QEMU processes, mounts, sockets).
 *
 * @module
 */
import { resolveConfig } from "../../runtime/config/resolve.ts";
import type { GuestImage } from "../../runtime/guest/mod.ts";
import { ensureGuestImage } from "../utils/guest.ts";
import { createLogger, type LogSink } from "../../runtime/log/logger.ts";
import { openSandboxRuntime, type SandboxRuntime } from "../../runtime/sandbox/mod.ts";

/** True when this host can boot guests (root, QEMU, apt and the image tools). */
export async function hostCanBoot(): Promise<boolean> {
  for (const bin of ["qemu-system-x86_64", "apt-get", "mkfs.erofs", "depmod", "mount"]) {
    const r = await new Deno.Command("sh", {
      args: ["-c", `command -v ${bin}`],
      stdout: "null",
      stderr: "null",
    })
      .output().catch(() => null);
    if (r === null || !r.success) return false;
  }
  return Deno.uid() === 0;
}

/**
 * The guest image with a kernel that has 9p (generic flavour), built once and cached. The generic
 * kernel builds crc32c as a module that erofs needs through libcrc32c's soft dependency, which
 * modules.dep does not list, so it is named first.
 */
export async function guestImageWith9p(): Promise<GuestImage> {
  // The default image uses Debian's generic kernel, which has 9p.
  return await ensureGuestImage();
}

export const logLines: string[] = [];
const sink: LogSink = { write: (l) => void logLines.push(l) };

/** A runtime whose state lives under `dir`, booting `image` (TCG unless COCOON_TEST_ACCEL=kvm). */
export async function runtimeFor(
  dir: string,
  image: GuestImage,
  opts: { sharedFs?: "virtio-9p" | "virtio-fs" } = {},
): Promise<SandboxRuntime> {
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
        shared_fs: opts.sharedFs ?? "virtio-9p",
      },
    },
    runtime: { state_dir: `${dir}/run`, store: "fs", internetworking_model: "none" },
    agent: { dial_timeout: 90, enable_debug: Deno.env.get("COCOON_E2E_DEBUG") === "1" },
  }, { file: "e2e", dropIns: [] });
  return await openSandboxRuntime(cfg, { log: createLogger({ sink, level: "debug" }) });
}

/** Pids of QEMU processes whose command line contains `marker`. */
export async function qemuPids(marker: string): Promise<number[]> {
  return await pidsMatching((cmd) => cmd.includes("qemu-system") && cmd.includes(marker));
}

export async function pidsMatching(match: (cmdline: string) => boolean): Promise<number[]> {
  const out: number[] = [];
  for await (const e of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    const cmd = await Deno.readTextFile(`/proc/${e.name}/cmdline`).catch(() => "");
    if (match(cmd)) out.push(Number(e.name));
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

/** Kills what a failed test left (QEMU, virtiofsd) and lazily unmounts what remains under `dir`. */
export async function scrub(dir: string, id: string): Promise<void> {
  for (const pid of await pidsMatching((c) => c.includes(id) || c.includes(dir))) {
    try {
      Deno.kill(pid, "SIGKILL");
    } catch {
      // gone
    }
  }
  for (const m of (await mountsUnder(dir)).reverse()) {
    await new Deno.Command("umount", { args: ["-l", m] }).output();
  }
}
