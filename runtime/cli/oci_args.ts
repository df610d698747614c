/**
 * Shared pieces of the runc-compatible verbs: argument parsing that reports errors as runc does,
 * the state root (`--root`, else `runtime.state_dir`), the sandbox runtime for that root, and the
 * view of one container (holder liveness + persisted record) behind `state`, `list`, `delete`...
 *
 * @module
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { RuntimeError } from "../errors.ts";
import { type ContainerId, containerId, sandboxId } from "../ids.ts";
import type { ResolvedConfig } from "../config/schema.ts";
import type { Logger } from "../log/logger.ts";
import { holderAlive, type HolderInfo, readHolderInfo } from "../holder/info.ts";
import { type OciPaths, ociPaths } from "../holder/paths.ts";
import { type OciState, ociState } from "../oci/state.ts";
import type { ContainerRecord, SandboxRuntime } from "../sandbox/mod.ts";
import type { SandboxRepo } from "../sandbox/persist.ts";
import { writeAtomic } from "../sys/files.ts";
import { openRecordRepo } from "../sandbox/record_repo.ts";
import type { CommandContext } from "./args.ts";
import { canonicalPathSync } from "../sys/canonical_path.ts";

type Options = NonNullable<ParseArgsConfig["options"]>;

/** parseArgs with positionals; unknown flags and missing values become InvalidArgument errors. */
type Parsed<O extends Options> = ReturnType<
  typeof parseArgs<{ args: string[]; options: O; allowPositionals: true; strict: true }>
>;

export function parseVerb<O extends Options>(verb: string, args: readonly string[], options: O): Parsed<O> {
  try {
    return parseArgs({ args: [...args], options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new RuntimeError(
      "InvalidArgument",
      `Invalid arguments for "${verb}": ${e instanceof Error ? e.message : String(e)}`,
      { cause: e },
    );
  }
}

/**
 * Splits `[flags] <id> [command...]` the way runc does: flags end at the first positional (the id),
 * so a command's own flags (`sh -c ...`) are never read as ours. Returns the flag part with the id,
 * and the command. Pure.
 */
export function splitAtCommand(
  args: readonly string[],
  options: Options,
): { head: string[]; command: string[] } {
  const takesValue = new Set<string>();
  for (const [name, o] of Object.entries(options)) {
    if (o.type !== "string") continue;
    takesValue.add(`--${name}`);
    if (o.short !== undefined) takesValue.add(`-${o.short}`);
  }
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--") return { head: args.slice(0, i + 2), command: args.slice(i + 2) };
    if (!a.startsWith("-") || a === "-") return { head: args.slice(0, i + 1), command: args.slice(i + 1) };
    if (takesValue.has(a)) i++; // "--flag value"; "--flag=value" is one token
  }
  return { head: [...args], command: [] };
}

/** The container id argument (runc's id rules: no path traversal). */
export function idArg(verb: string, positionals: readonly string[], index = 0): ContainerId {
  const s = positionals[index];
  if (s === undefined || s === "") {
    throw new RuntimeError("InvalidArgument", `Invalid arguments for "${verb}": a container id is required`);
  }
  return containerId(s);
}

/** The configuration with `runtime.state_dir` replaced by `--root` (canonical) when given. */
export function withStateDir(cfg: ResolvedConfig, root: string | undefined): ResolvedConfig {
  if (root === undefined || root === "") return cfg;
  // Canonical once, here: Docker passes /var/run/docker/..., and /var/run is a link to /run.
  return { ...cfg, runtime: { ...cfg.runtime, stateDir: canonicalPathSync(root) } };
}

export interface OciEnv {
  readonly cfg: ResolvedConfig;
  readonly stateDir: string;
  runtime(): Promise<SandboxRuntime>;
  /** The records alone (the store plugin), for verbs that only read state. */
  records(): Promise<SandboxRepo>;
}

/** Config, state root and (lazily) the sandbox runtime of a CLI call. */
export async function ociEnv(ctx: CommandContext, log: Logger = ctx.log): Promise<OciEnv> {
  const cfg = withStateDir(await ctx.config(), ctx.globals.root);
  let rt: Promise<SandboxRuntime> | undefined;
  let repo: Promise<SandboxRepo> | undefined;
  return {
    cfg,
    stateDir: cfg.runtime.stateDir,
    // the runtime is imported when a verb needs it: a verb that reads state loads the store alone
    runtime:
      () => (rt ??= Promise.all([ctx.registry(), import("../sandbox/mod.ts")]).then(([registry, m]) =>
        m.openSandboxRuntime(cfg, { log, registry })
      )),
    records:
      () => (repo ??= rt !== undefined
        ? rt.then((r) => r.repo)
        : ctx.registry().then((registry) => openRecordRepo(cfg, { log, registry }))),
  };
}

/** What a CLI verb knows about one container. */
export interface ContainerView {
  readonly id: ContainerId;
  readonly paths: OciPaths;
  readonly info: HolderInfo | null;
  /** The holder runs (it owns the sandbox: verbs go through its socket). */
  readonly alive: boolean;
  readonly record: ContainerRecord | null;
}

export function notFound(id: string): RuntimeError {
  return new RuntimeError("NotFound", `Container "${id}" does not exist`);
}

/** @throws {RuntimeError} `NotFound` ("does not exist", as podman and containerd expect). */
export async function lookup(env: OciEnv, id: ContainerId): Promise<ContainerView> {
  const paths = ociPaths(env.stateDir, id);
  const dirExists = await Deno.stat(paths.dir).then(() => true, () => false);
  const info = dirExists ? await readHolderInfo(paths.info).catch(() => null) : null;
  const alive = info !== null && await holderAlive(info);
  // the OCI CLI's sandbox has the container's id
  const repo = await env.records();
  const sid = sandboxId(id);
  const record: ContainerRecord | null = (await repo.findSandbox(sid)) === undefined
    ? null
    : (await repo.findContainer(sid, id)) ?? null;
  if (!dirExists && record === null) throw notFound(id);
  return { id, paths, info, alive, record };
}

/** The OCI state: a container whose holder is gone is stopped, whatever its record says. */
export function viewState(v: ContainerView): OciState & { readonly created?: string } {
  const base = v.record !== null ? ociState(v.record, v.alive && v.info !== null ? v.info.pid : 0) : {
    ociVersion: "1.0.2",
    id: v.id,
    status: "creating" as const,
    pid: v.alive && v.info !== null ? v.info.pid : 0,
    bundle: v.info?.bundle ?? "",
    annotations: {},
  };
  const starting = v.info === null && (v.record === null || v.record.status.kind === "creating");
  const status = v.alive ? base.status : starting ? "creating" : "stopped";
  return {
    ...base,
    status,
    pid: status === "stopped" ? 0 : base.pid,
    ...(v.info !== null
      ? { created: v.info.createdAt }
      : v.record !== null
      ? { created: v.record.createdAt }
      : {}),
  };
}

/** The holder's socket, or a clear error when the container is not held (stopped, or dead holder). */
export function liveSocket(v: ContainerView, op: string): string {
  if (!v.alive || v.info === null) {
    throw new RuntimeError(
      "FailedPrecondition",
      `Cannot ${op} container "${v.id}": container is not running`,
    );
  }
  return v.info.socket;
}

/** Writes a pid file the way runc does (temp file, fsync, rename; no newline). */
export async function writePidFile(path: string, pid: number): Promise<void> {
  await writeAtomic(path.startsWith("/") ? path : `${Deno.cwd()}/${path}`, String(pid), 0o644);
}
