/**
 * Helpers of the sandbox network end-to-end tests and the network bench: a runtime on a private
 * state dir with a given network model, a busybox rootfs serving a page, the container spec of a
 * network service (capabilities to bind :80 and ping), and commands in another netns.
 *
 * @module
 */
import { resolveConfig } from "../../runtime/config/resolve.ts";
import type { GuestImage } from "../../runtime/guest/mod.ts";
import { createLogger } from "../../runtime/log/logger.ts";
import { minimalSpec, type OciSpec, parseOciSpec } from "../../runtime/oci/spec.ts";
import { openSandboxRuntime, type SandboxRuntime } from "../../runtime/sandbox/mod.ts";
import { hostNetSys } from "../../runtime/sys/ip_command.ts";
import { makeBusyboxRootfs } from "../../agent/testing/rootfs.ts";
import { logLines } from "./sandbox_util.ts";

export const NET_MODELS = ["tcfilter", "bridge", "macvtap"] as const;
export type NetModel = typeof NET_MODELS[number];

/** Text of the page the container serves. */
export const PAGE = "cocoon-sandbox-net-page";

/** A runtime whose state lives under `dir`, attaching pods with `model`. */
export async function networkRuntimeFor(
  dir: string,
  image: GuestImage,
  model: string,
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
        shared_fs: "virtio-9p",
      },
    },
    runtime: { state_dir: `${dir}/run`, store: "fs", internetworking_model: model },
    agent: { dial_timeout: 120, enable_debug: Deno.env.get("COCOON_E2E_DEBUG") === "1" },
  }, { file: "e2e", dropIns: [] });
  const sink = { write: (l: string) => void logLines.push(l) };
  return await openSandboxRuntime(cfg, { log: createLogger({ sink, level: "debug" }) });
}

/** A busybox rootfs under `dir` with `/www/index.html` holding {@link PAGE}. */
export async function makeWebRootfs(dir: string): Promise<string> {
  const rootfs = await makeBusyboxRootfs(dir);
  await Deno.mkdir(`${rootfs}/www`);
  await Deno.writeTextFile(`${rootfs}/www/index.html`, `${PAGE}\n`);
  return rootfs;
}

const CAPS = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_FOWNER",
  "CAP_KILL",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_NET_BIND_SERVICE",
  "CAP_NET_RAW",
];

/** A container spec running `args`, allowed to bind port 80 and send ICMP, with `mounts` added. */
export function netSpec(
  args: string[],
  mounts: { destination: string; source: string }[] = [],
): OciSpec {
  const raw = minimalSpec(args);
  const process = raw["process"];
  const withCaps = typeof process === "object" && process !== null && !Array.isArray(process)
    ? { ...process, capabilities: { bounding: CAPS, effective: CAPS, permitted: CAPS } }
    : process;
  const base = Array.isArray(raw["mounts"]) ? raw["mounts"] : [];
  return parseOciSpec({
    ...raw,
    process: withCaps,
    mounts: [
      ...base,
      ...mounts.map((m) => ({ ...m, type: "bind", options: ["rbind", "ro"] })),
    ],
  }, "e2e");
}

/** Runs a command in a netns (path) with a time limit. */
export async function inNetns(
  netns: string,
  args: string[],
  timeoutMs = 30_000,
): Promise<{ ok: boolean; out: string }> {
  const r = await hostNetSys().run("nsenter", [`--net=${netns}`, "--", ...args], {
    signal: AbortSignal.timeout(timeoutMs),
  });
  return { ok: r.code === 0, out: r.stdout + r.stderr };
}

/** Fetches `url` from `netns` with busybox wget, retrying until `timeoutMs` (the server may still start). */
export async function fetchFrom(netns: string, url: string, timeoutMs = 60_000): Promise<string> {
  const end = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < end) {
    // (busybox-static 1.35's wget crashes with -T: the time limit is the signal's)
    const r = await inNetns(netns, ["busybox", "wget", "-q", "-O", "-", url], 10_000);
    if (r.ok) return r.out;
    last = r.out;
    await new Promise((res) => setTimeout(res, 500));
  }
  throw new Error(`Cannot fetch "${url}" from "${netns}" within ${timeoutMs} ms: ${last}`);
}
