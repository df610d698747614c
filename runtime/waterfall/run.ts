/**
 * Measures one start-up and draws its waterfall: a sandbox (cold boot, or a template clone when the
 * configuration enables templates), a busybox container that prints one line, until that line
 * reaches the host; host steps from the sandbox core's `onStage`, guest steps from the console.
 * The pod is deleted afterwards, whatever happened.
 *
 * @module
 */
import { join } from "node:path";
import { createSandbox } from "../api/library/sandbox_api.ts";
import type { ResolvedConfig } from "../config/schema.ts";
import { sandboxId } from "../ids.ts";
import { consoleLogPath, sandboxDir } from "../sandbox/layout.ts";
import {
  buildWaterfall,
  type GuestStage,
  type HostMark,
  parseGuestStages,
  type WaterfallRow,
} from "./timeline.ts";

export interface WaterfallOptions {
  /** The configuration the pod starts under (its state directory holds the console log). */
  readonly config: ResolvedConfig;
  /** The container's root filesystem (default: a busybox one made in a temp dir). */
  readonly rootfs?: string;
  readonly signal?: AbortSignal;
}

export interface WaterfallResult {
  readonly rows: readonly WaterfallRow[];
  readonly host: readonly HostMark[];
  readonly guest: readonly GuestStage[];
  /** ms from the start until the container's first line reached the host. */
  readonly totalMs: number;
}

/** A root filesystem of busybox (copied from the host's /bin/busybox) under `dir`. */
async function busyboxRootfs(dir: string): Promise<string> {
  const root = join(dir, "rootfs");
  for (const d of ["bin", "proc", "sys", "dev", "tmp", "etc"]) {
    await Deno.mkdir(join(root, d), { recursive: true });
  }
  await Deno.copyFile("/bin/busybox", join(root, "bin/busybox")).catch((e: unknown) => {
    throw new Error(`Cannot make a busybox root filesystem: /bin/busybox: ${String(e)}; pass --rootfs DIR`);
  });
  await Deno.chmod(join(root, "bin/busybox"), 0o755);
  for (const a of ["sh", "echo"]) await Deno.symlink("busybox", join(root, "bin", a));
  return root;
}

/** Starts one pod, prints nothing, returns its waterfall. */
export async function measureWaterfall(opts: WaterfallOptions): Promise<WaterfallResult> {
  const tmp = await Deno.makeTempDir({ prefix: "cocoon-waterfall-" });
  const id = sandboxId(`waterfall-${crypto.randomUUID().slice(0, 8)}`);
  const host: HostMark[] = [];
  const t0 = performance.now();
  const mark = (stage: string) => host.push({ stage, ms: performance.now() - t0 });
  try {
    const rootfs = opts.rootfs ?? await busyboxRootfs(tmp);
    const sb = await createSandbox({
      id,
      config: opts.config,
      onStage: mark,
      ...(opts.signal !== undefined ? { signal: opts.signal } : {}),
    });
    try {
      await sb.createContainer({ id: `${id}-c`, rootfs, args: ["sh", "-c", "echo first-output"] });
      mark("container created");
      const init = await sb.startContainer(`${id}-c`);
      mark("container started");
      const reader = init.io.stdout.getReader();
      const first = await reader.read();
      mark("first output byte");
      if (first.done) throw new Error("the container printed nothing");
      reader.releaseLock();
      await init.io.stdout.cancel().catch(() => {});
      const totalMs = performance.now() - t0;
      const consoleText = await Deno.readTextFile(
        consoleLogPath(sandboxDir(opts.config.runtime.stateDir, id)),
      )
        .catch(() => "");
      const guest = parseGuestStages(consoleText);
      return { rows: buildWaterfall(host, guest), host, guest, totalMs: Math.round(totalMs) };
    } finally {
      await sb.delete({ force: true }).catch(() => {});
    }
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}
