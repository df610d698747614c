/**
 * Helpers of the VM factory end-to-end tests: a runtime with templates on (or off) on a private
 * state dir, a probe container that reports what a clone must not share, and PSS of a QEMU.
 *
 * @module
 */
import { resolveConfig } from "../../runtime/config/resolve.ts";
import type { ResolvedConfig } from "../../runtime/config/schema.ts";
import type { GuestImage } from "../../runtime/guest/mod.ts";
import { createLogger } from "../../runtime/log/logger.ts";
import { minimalSpec, type OciSpec, parseOciSpec } from "../../runtime/oci/spec.ts";
import { openSandboxRuntime, type Sandbox, type SandboxRuntime } from "../../runtime/sandbox/mod.ts";
import { logLines } from "./sandbox_util.ts";

/** Guest memory of the factory tests, MiB. */
export const FACTORY_TEST_MEMORY = 256;

/** The configuration of a factory test: 9p shares, `model` networking, templates on or off. */
export function factoryConfig(
  dir: string,
  image: GuestImage,
  opts: { template: boolean; model?: string },
): ResolvedConfig {
  return resolveConfig({
    hypervisor: {
      qemu: {
        kernel: image.kernel,
        initrd: image.initrd,
        image: image.rootfs ?? "",
        accelerator: Deno.env.get("COCOON_TEST_ACCEL") === "kvm" ? "kvm" : "tcg",
        default_memory: FACTORY_TEST_MEMORY,
        default_maxmemory: 512,
        default_maxvcpus: 1,
        shared_fs: "virtio-9p",
      },
    },
    runtime: { state_dir: `${dir}/run`, store: "fs", internetworking_model: opts.model ?? "none" },
    agent: { dial_timeout: 120, enable_debug: Deno.env.get("COCOON_E2E_DEBUG") === "1" },
    factory: { enable_template: opts.template, template_path: `${dir}/tmpl` },
  }, { file: "e2e", dropIns: [] });
}

export async function factoryRuntime(cfg: ResolvedConfig): Promise<SandboxRuntime> {
  const sink = { write: (l: string) => void logLines.push(l) };
  return await openSandboxRuntime(cfg, { log: createLogger({ sink, level: "debug" }) });
}

/** A spec running `sh -c script` with a tmpfs (guest memory) at /tmp, in the guest's hostname. */
export function probeSpec(script: string): OciSpec {
  // no "hostname": the container's UTS namespace starts with the guest's hostname
  const { hostname: _hostname, ...raw } = minimalSpec(["sh", "-c", script]);
  const mounts = Array.isArray(raw["mounts"]) ? raw["mounts"] : [];
  return parseOciSpec(
    {
      ...raw,
      mounts: [
        ...mounts.filter((m) =>
          !(typeof m === "object" && m !== null && "destination" in m && m.destination === "/tmp")
        ),
        { destination: "/tmp", type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev"] },
      ],
    },
    "factory-e2e",
  );
}

/** Runs `script` in a new container of `sb` and returns its stdout (exit 0 required). */
export async function runProbe(sb: Sandbox, id: string, rootfs: string, script: string): Promise<string> {
  await sb.act({ kind: "create-container", opts: { id, spec: probeSpec(script), rootfs } });
  const out = new Response(sb.io(id).stdout).text();
  await sb.act({ kind: "start-container", containerId: id });
  const exit = await sb.wait(id);
  const text = await out;
  await sb.act({ kind: "delete-container", containerId: id });
  if (exit.exitStatus !== 0) throw new Error(`probe ${id} exited with ${exit.exitStatus}: ${text}`);
  return text;
}

/** PSS of a process in KiB (/proc/<pid>/smaps_rollup). */
export async function pssKiB(pid: number): Promise<number> {
  const text = await Deno.readTextFile(`/proc/${pid}/smaps_rollup`);
  const m = /^Pss:\s+(\d+) kB/m.exec(text);
  return m?.[1] !== undefined ? Number(m[1]) : NaN;
}
