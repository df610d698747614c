/**
 * Test helpers for the guest image: `ensureGuestImage()` builds (or reuses, by content hash) an
 * image with the real agent or a small test agent, and `bootGuest()` boots it in real QEMU and
 * collects the serial console. Every QEMU started here is killed before the helper returns.
 *
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  buildGuestImage,
  DEFAULT_GUEST_ROOT,
  type GuestImage,
  type GuestMode,
  type KernelChoice,
} from "../../runtime/guest/mod.ts";

/** Marker lines the test agent prints (`COCOON-TEST-AGENT <key>=<value>`). */
export const TEST_AGENT_MARKER = "COCOON-TEST-AGENT";

/**
 * A tiny agent for tests: reports what it sees (uptime at start, modules, filesystems, mounts,
 * crun/runc versions, COCOON_* env, PID/PPID, hostname, whether it can reap), then exits (the VM
 * powers off) or, with `agent.test=wait` on the kernel command line, stays up.
 */
export const TEST_AGENT_JS = `
const M = ${JSON.stringify(TEST_AGENT_MARKER)};
const say = (k, v) => console.log(M + " " + k + "=" + v);
say("start", (await Deno.readTextFile("/proc/uptime")).split(" ")[0]);
const lines = (p) => Deno.readTextFileSync(p).split("\\n").filter(Boolean);
say("modules", lines("/proc/modules").map((l) => l.split(" ")[0]).join(","));
const dir = (p) => [...Deno.readDirSync(p)].map((e) => e.name).sort().join(",");
say("virtiodrivers", dir("/sys/bus/virtio/drivers"));
say("pcidrivers", dir("/sys/bus/pci/drivers"));
say("filesystems", lines("/proc/filesystems").map((l) => l.trim().split(/\\s+/).pop()).join(","));
say("mounts", lines("/proc/mounts").map((l) => l.split(" ").slice(1, 3).join(":")).join(","));
say("cocoonmount", lines("/proc/mounts").find((l) => l.split(" ")[1] === "/cocoon") ?? "none");
for (const b of ["crun", "runc"]) {
  const r = await new Deno.Command("/cocoon/bin/" + b, { args: ["--version"] }).output();
  say(b, new TextDecoder().decode(r.stdout).split("\\n")[0]);
}
say("pid", Deno.pid + "/" + Deno.ppid);
say("hostname", Deno.hostname());
say("path", Deno.env.get("PATH"));
say("env", Object.entries(Deno.env.toObject()).filter(([k]) => k.startsWith("COCOON_")).map(([k, v]) => k + "=" + v).join(";"));
// An orphan (the backgrounded sleep) is reparented past the agent to PID 1, which must reap it.
await new Deno.Command("/bin/sh", { args: ["-c", "(sleep 0.2 &); exit 0"] }).output();
await new Promise((r) => setTimeout(r, 1000));
const zombies = [...Deno.readDirSync("/proc")].filter((e) => /^\d+$/.test(e.name)).filter((e) => {
  try {
    return Deno.readTextFileSync("/proc/" + e.name + "/stat").replace(/^.*\\) /, "").startsWith("Z");
  } catch {
    return false;
  }
});
say("zombies", String(zombies.length));
say("ready", (await Deno.readTextFile("/proc/uptime")).split(" ")[0]);
if (Deno.readTextFileSync("/proc/cmdline").includes("agent.test=wait")) {
  setInterval(() => {}, 1 << 30);
} else {
  say("end", "ok");
}
`;

export interface EnsureGuestImageOptions {
  /** `real`: agent/main.ts; `test`: TEST_AGENT_JS; or a path to an agent bundle. Default `real` when
   * agent/main.ts exists, else `test`. */
  agent?: "real" | "test" | { bundle: string };
  mode?: GuestMode;
  /** Which kernel (default `auto`: the tuned one when built, as `bash dev.sh test` does first). */
  kernel?: KernelChoice;
  signal?: AbortSignal;
}

const REPO = fileURLToPath(new URL("../../", import.meta.url));

/** A guest image for tests, built once per input set and then reused from the cache. */
export async function ensureGuestImage(opts: EnsureGuestImageOptions = {}): Promise<GuestImage> {
  const agent = opts.agent ?? (await exists(join(REPO, "agent/main.ts")) ? "real" : "test");
  const common = {
    outDir: DEFAULT_GUEST_ROOT,
    mode: opts.mode ?? "erofs",
    ...(opts.kernel !== undefined ? { kernel: opts.kernel } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
  };
  if (agent === "real") return await buildGuestImage(common);
  let bundle: string;
  if (agent === "test") {
    const dir = join(DEFAULT_GUEST_ROOT, ".test-agent");
    await Deno.mkdir(dir, { recursive: true });
    bundle = join(dir, "agent.js");
    const cur = await Deno.readTextFile(bundle).catch(() => null);
    if (cur !== TEST_AGENT_JS) {
      const tmp = `${bundle}.${crypto.randomUUID()}`;
      await Deno.writeTextFile(tmp, TEST_AGENT_JS);
      await Deno.rename(tmp, bundle);
    }
  } else {
    bundle = agent.bundle;
  }
  // Test agents never become `current`: the default config keeps pointing at the real agent.
  return await buildGuestImage({ ...common, agentBundle: bundle, setCurrent: false });
}

export interface BootGuestOptions {
  /** Extra kernel parameters. */
  append?: string;
  memoryMiB?: number;
  /** Stop waiting (and kill QEMU) once the console shows this text. */
  until?: string;
  timeoutMs?: number;
  /** How to attach the userland image (default `virtio-blk` when the image has one). */
  userland?: "virtio-blk" | "virtio-pmem" | "none";
  signal?: AbortSignal;
}

export interface BootResult {
  console: string;
  /** Host milliseconds from spawning QEMU to its exit (or to `until`). */
  wallMs: number;
  /** QEMU's exit code; null when it was killed after `until`. */
  exitCode: number | null;
  /** `cocoon-init: stage <name> at <s>s` lines, guest seconds since boot. */
  stages: Record<string, number>;
  /** The test agent's `key=value` lines. */
  agent: Record<string, string>;
}

/** Boots `image` in QEMU (TCG unless COCOON_TEST_ACCEL says otherwise); always reaps QEMU. */
export async function bootGuest(image: GuestImage, opts: BootGuestOptions = {}): Promise<BootResult> {
  // One TCG thread for the two vCPUs: with one thread per vCPU the guest kernel's early text
  // patching (int3 + IPI) races stale translated code on the other vCPU now and then, and boot
  // dies with "Oops: int3" in sched_clock_cpu (seen once in a full run here).
  const accel = Deno.env.get("COCOON_TEST_ACCEL") ?? "tcg,thread=single";
  const args = [
    "-machine",
    "q35",
    "-accel",
    accel,
    "-cpu",
    accel.startsWith("kvm") ? "host" : "max",
    "-smp",
    "2",
    "-m",
    String(opts.memoryMiB ?? (image.manifest.mode === "initrd" ? 512 : 256)),
    "-nographic",
    "-nodefaults",
    "-serial",
    "stdio",
    "-no-reboot",
    "-kernel",
    image.kernel,
    "-initrd",
    image.initrd,
    "-append",
    `console=ttyS0 ${image.manifest.cmdline} quiet ${opts.append ?? ""}`.trim(),
    "-device",
    "virtio-rng-pci",
  ];
  const userland = image.rootfs === null ? "none" : opts.userland ?? "virtio-blk";
  const mem = String(opts.memoryMiB ?? (image.manifest.mode === "initrd" ? 512 : 256));
  if (image.rootfs !== null && userland === "virtio-blk") {
    args.push(
      "-drive",
      `file=${image.rootfs},if=none,id=userland,format=raw,readonly=on`,
      "-device",
      "virtio-blk-pci,drive=userland,serial=cocoon-userland",
    );
  } else if (image.rootfs !== null && userland === "virtio-pmem") {
    // Mapped from the host page cache (shared by every VM using the image), mounted with DAX.
    const size = (await Deno.stat(image.rootfs)).size;
    args[args.indexOf(mem)] = `${mem},slots=2,maxmem=${Number(mem) + 4096}M`;
    args.push(
      "-object",
      `memory-backend-file,id=userland,mem-path=${image.rootfs},size=${size},share=off,readonly=on`,
      "-device",
      "virtio-pmem-pci,memdev=userland,id=userland-pmem",
    );
    args[args.indexOf("-append") + 1] += " cocoon.userland=/dev/pmem0 cocoon.userland_opts=dax=always";
  }
  const start = performance.now();
  const child = new Deno.Command("qemu-system-x86_64", {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  })
    .spawn();
  let out = "";
  let exitCode: number | null = null;
  let wallMs = 0;
  const timeout = setTimeout(() => kill(child), opts.timeoutMs ?? 120_000);
  const onAbort = () => kill(child);
  opts.signal?.addEventListener("abort", onAbort);
  try {
    const dec = new TextDecoder();
    const errP = new Response(child.stderr).text();
    for await (const chunk of child.stdout) {
      out += dec.decode(chunk, { stream: true });
      if (opts.until !== undefined && out.includes(opts.until)) {
        wallMs = performance.now() - start;
        kill(child);
        break;
      }
    }
    const status = await child.status;
    if (wallMs === 0) {
      wallMs = performance.now() - start;
      exitCode = status.code;
    }
    const err = await errP;
    if (err.trim() !== "") out += `\n[qemu stderr] ${err}`;
  } finally {
    clearTimeout(timeout);
    opts.signal?.removeEventListener("abort", onAbort);
    kill(child);
    await child.status.catch(() => {});
  }
  return { console: out, wallMs, exitCode, stages: parseStages(out), agent: parseAgent(out) };
}

function kill(child: Deno.ChildProcess): void {
  try {
    child.kill("SIGKILL");
  } catch { /* already gone */ }
}

function parseStages(out: string): Record<string, number> {
  const r: Record<string, number> = {};
  for (const m of out.matchAll(/cocoon-init: stage (\S+) at ([\d.]+)s/g)) r[m[1] ?? ""] = Number(m[2]);
  const start = /cocoon-init: agent starting at ([\d.]+)s/.exec(out);
  if (start) r["agent-run"] = Number(start[1]);
  return r;
}

function parseAgent(out: string): Record<string, string> {
  const r: Record<string, string> = {};
  for (const m of out.matchAll(new RegExp(`^${TEST_AGENT_MARKER} ([a-z]+)=(.*)$`, "gm"))) {
    r[m[1] ?? ""] = (m[2] ?? "").replace(/\r$/, "");
  }
  return r;
}

async function exists(p: string): Promise<boolean> {
  try {
    await Deno.stat(p);
    return true;
  } catch {
    return false;
  }
}
