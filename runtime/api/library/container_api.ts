/**
 * Containers and processes of the library API: the OCI spec of the simple form (`args`, `env`,
 * `cwd`, `terminal`) or a full spec, validated, and the mapping of the core's records to
 * {@link ContainerInfo}.
 *
 * @module
 */
import { SandboxError } from "../../errors.ts";
import { minimalSpec, type OciProcess, type OciSpec, parseOciProcess, parseOciSpec } from "../../oci/spec.ts";
import type { ContainerRecord } from "../../sandbox/records.ts";
import type { ProcessStatus } from "../../sandbox/status.ts";
import type { ContainerConfig, ContainerInfo, ProcessConfig } from "./types.ts";

/** The validated OCI spec of `cfg`. @throws {SandboxError} `InvalidArgument` */
export function containerSpec(cfg: ContainerConfig): OciSpec {
  const what = `container "${cfg.id}"`;
  if (cfg.spec !== undefined) {
    const simple = (["args", "env", "cwd", "terminal"] as const).filter((k) => cfg[k] !== undefined);
    if (simple.length > 0) {
      throw new SandboxError(
        "InvalidArgument",
        `Cannot create ${what}: give either "spec" or "${simple.join('", "')}", not both`,
      );
    }
    return parseOciSpec(cfg.spec, what);
  }
  if (cfg.args === undefined || cfg.args.length === 0) {
    throw new SandboxError(
      "InvalidArgument",
      `Cannot create ${what}: "args" is empty and no "spec" is given`,
    );
  }
  const spec = minimalSpec(cfg.args, { terminal: cfg.terminal ?? false });
  return parseOciSpec({ ...spec, process: processJson(spec["process"], cfg) }, what);
}

/** The validated OCI process of an exec. */
export function execProcessSpec(containerId: string, cfg: ProcessConfig): OciProcess {
  if (cfg.args.length === 0) {
    throw new SandboxError("InvalidArgument", `Cannot exec in container "${containerId}": "args" is empty`);
  }
  const base = minimalSpec(cfg.args, { terminal: cfg.terminal ?? false })["process"];
  const p = processJson(base, cfg);
  const withUser = cfg.user !== undefined ? { ...p, user: { uid: cfg.user.uid, gid: cfg.user.gid } } : p;
  return parseOciProcess(withUser, `process of container "${containerId}"`);
}

function processJson(
  base: unknown,
  cfg: { readonly env?: Readonly<Record<string, string>>; readonly cwd?: string },
): Record<string, unknown> {
  const p: Record<string, unknown> = typeof base === "object" && base !== null && !Array.isArray(base)
    ? { ...base }
    : {};
  if (cfg.env !== undefined) {
    const env = Array.isArray(p["env"]) ? p["env"].map(String) : [];
    for (const [k, v] of Object.entries(cfg.env)) {
      if (k === "" || k.includes("=")) {
        throw new SandboxError("InvalidArgument", `Invalid environment variable name "${k.slice(0, 80)}"`);
      }
      const i = env.findIndex((e) => e.startsWith(`${k}=`));
      if (i >= 0) env[i] = `${k}=${v}`;
      else env.push(`${k}=${v}`);
    }
    p["env"] = env;
  }
  if (cfg.cwd !== undefined) p["cwd"] = cfg.cwd;
  return p;
}

/** The public view of a container record. Pure. */
export function containerInfo(r: ContainerRecord): ContainerInfo {
  const processes: Record<string, ProcessStatus> = {};
  for (const [id, e] of Object.entries(r.execs)) processes[id] = e.status;
  return {
    id: r.id,
    sandboxId: r.sandboxId,
    state: r.status,
    rootfs: r.rootfs,
    createdAt: r.createdAt,
    terminal: r.terminal,
    annotations: r.annotations,
    processes,
  };
}

/** A fresh id with `prefix` (`exec-1a2b3c4d`). */
export function randomId(prefix: string): string {
  return `${prefix}-${crypto.randomUUID().slice(0, 8)}`;
}
