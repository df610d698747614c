/**
 * OCI lifecycle hooks, run on the host as the runtime spec and Kata do: `prestart` and
 * `createRuntime` after the container's namespaces exist and before its VM network is wired (so
 * that a hook such as Docker's `libnetwork-setkey` can configure the pod's network namespace),
 * `poststart` after start, `poststop` after delete. Each gets the state JSON on stdin, its own
 * argv (argv[0] included: Docker's hook is dispatched on it), its own environment only, and its
 * timeout.
 *
 * `createContainer` and `startContainer` hooks must run inside the container's mount namespace,
 * which is in the guest: they are refused with a clear error (docs/decisions.md, "OCI hooks").
 *
 * @module
 */
import * as v from "valibot";
import { RuntimeError } from "../errors.ts";
import type { Logger } from "../log/logger.ts";
import type { OciState } from "./state.ts";

export interface OciHook {
  readonly path: string;
  readonly args: readonly string[];
  readonly env: readonly string[];
  /** Seconds; undefined = no limit. */
  readonly timeout?: number;
}

const HOOK_STAGES = [
  "prestart",
  "createRuntime",
  "createContainer",
  "startContainer",
  "poststart",
  "poststop",
] as const;
export type HookStage = typeof HOOK_STAGES[number];
export type OciHooks = Readonly<Record<HookStage, readonly OciHook[]>>;

const HookSchema = v.object({
  path: v.pipe(v.string(), v.startsWith("/", "must be an absolute path")),
  args: v.optional(v.array(v.string())),
  env: v.optional(v.array(v.string())),
  timeout: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1, "must be at least 1 second"))),
});

/**
 * The hooks of a config.json (`raw` is the whole parsed document).
 *
 * @throws {RuntimeError} `InvalidArgument` naming the stage, index and field.
 */
export function hooksOf(raw: Readonly<Record<string, unknown>>): OciHooks {
  const h = raw["hooks"];
  const out: Record<HookStage, OciHook[]> = {
    prestart: [],
    createRuntime: [],
    createContainer: [],
    startContainer: [],
    poststart: [],
    poststop: [],
  };
  if (h === undefined || h === null) return out;
  if (typeof h !== "object" || Array.isArray(h)) {
    throw new RuntimeError("InvalidArgument", `Invalid OCI spec: field "hooks" must be an object`);
  }
  for (const stage of HOOK_STAGES) {
    const list: unknown = (h as Record<string, unknown>)[stage];
    if (list === undefined || list === null) continue;
    if (!Array.isArray(list)) {
      throw new RuntimeError("InvalidArgument", `Invalid OCI spec: field "hooks.${stage}" must be an array`);
    }
    list.forEach((x, i) => {
      const r = v.safeParse(HookSchema, x);
      if (!r.success) {
        const issue = r.issues[0];
        const key = issue?.path?.map((p) => String(p.key)).join(".") ?? "";
        throw new RuntimeError(
          "InvalidArgument",
          `Invalid OCI spec: field "hooks.${stage}.${i}${key ? `.${key}` : ""}": ${
            issue?.message ?? "malformed"
          }`,
        );
      }
      const o = r.output;
      out[stage].push({
        path: o.path,
        args: o.args ?? [o.path],
        env: o.env ?? [],
        ...(o.timeout !== undefined ? { timeout: o.timeout } : {}),
      });
    });
  }
  return out;
}

/** Refuses hooks that would have to run inside the container (in the guest). */
export function refuseContainerHooks(hooks: OciHooks, id: string): void {
  for (const stage of ["createContainer", "startContainer"] as const) {
    if (hooks[stage].length > 0) {
      throw new RuntimeError(
        "Unimplemented",
        `Cannot create container "${id}": ${stage} hooks ("${
          hooks[stage][0]?.path
        }") run in the container's ` +
          `mount namespace, which is inside its microVM where host programs do not exist; use prestart, ` +
          `createRuntime, poststart or poststop hooks (they run on the host)`,
      );
    }
  }
}

/** Environment entries `K=V` as a record (later entries win). Pure. */
function envRecord(env: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of env) {
    const i = e.indexOf("=");
    if (i > 0) out[e.slice(0, i)] = e.slice(i + 1);
  }
  return out;
}

/** Runs one hook with `state` on stdin; throws when it fails or outlives its timeout. */
export async function runHook(stage: HookStage, hook: OciHook, state: OciState): Promise<void> {
  // Deno cannot set argv[0] apart from the program: bash's `exec -a` does.
  const argv0 = hook.args[0] ?? hook.path;
  const ac = new AbortController();
  const timer = hook.timeout !== undefined ? setTimeout(() => ac.abort(), hook.timeout * 1000) : undefined;
  const what = `${stage} hook "${hook.path}"`;
  try {
    const child = new Deno.Command("/bin/bash", {
      args: ["-c", 'exec -a "$0" "$@"', argv0, hook.path, ...hook.args.slice(1)],
      clearEnv: true,
      env: envRecord(hook.env),
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      signal: ac.signal,
    }).spawn();
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(JSON.stringify(state))).catch(() => {});
    await w.close().catch(() => {});
    const out = await child.output();
    if (ac.signal.aborted) {
      throw new RuntimeError("DeadlineExceeded", `The ${what} did not finish within ${hook.timeout} s`);
    }
    if (!out.success) {
      const err = new TextDecoder().decode(out.stderr).trim() || new TextDecoder().decode(out.stdout).trim();
      throw new RuntimeError(
        "FailedPrecondition",
        `The ${what} exited with code ${out.code}${err ? `: ${err.slice(0, 400)}` : ""}`,
      );
    }
  } catch (e) {
    if (e instanceof RuntimeError) throw e;
    throw new RuntimeError("FailedPrecondition", `Cannot run the ${what}: ${String(e)}`, { cause: e });
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

/**
 * Runs a stage's hooks in order. `prestart`/`createRuntime` failures throw (create fails and is
 * rolled back); `poststart`/`poststop` failures are logged and the rest still run, as the spec says.
 */
export async function runHooks(
  stage: HookStage,
  hooks: OciHooks,
  state: OciState,
  log: Logger,
): Promise<void> {
  for (const hook of hooks[stage]) {
    try {
      await runHook(stage, hook, state);
      log.debug("hook ran", { stage, path: hook.path });
    } catch (e) {
      if (stage === "poststart" || stage === "poststop") log.warn("hook failed", { stage, error: e });
      else throw e;
    }
  }
}
