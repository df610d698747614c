/**
 * The agent payload of the guest image: a compiled agent, or the agent bundle plus the deno
 * runtime that runs it. By default the agent is built from agent/main.ts in this repository
 * (`deno compile` when DENORT_BIN is set, `deno bundle` otherwise).
 *
 * @module
 */
import { createHash } from "node:crypto";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { GuestImageError } from "../errors.ts";
import { errText, exec } from "./_exec.ts";
import type { AgentPayload, BuildGuestImageOptions } from "./types.ts";

/** The payload plus what identifies it for the content hash. */
export interface ResolvedPayload {
  payload: AgentPayload;
  sha256: string;
  size: number;
  runtime: { name: string; version: string; size: number; sha256: string } | null;
}

const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** sha256 hex of a file, streamed. */
export async function sha256File(path: string): Promise<string> {
  const h = createHash("sha256");
  using f = await Deno.open(path);
  for await (const chunk of f.readable) h.update(chunk);
  return h.digest("hex");
}

/** sha256 hex of a string. */
export function sha256Text(s: string): string {
  return createHash("sha256").update(s).digest("hex");
}

/** The deno runtime to ship: COCOON_DENO_BIN, the npm `deno` package here, or this process's deno. */
async function defaultDenoBinary(): Promise<string> {
  const env = Deno.env.get("COCOON_DENO_BIN");
  if (env) return env;
  const npm = join(REPO_ROOT, "node_modules/deno/deno");
  if (await isFile(npm)) return npm;
  if (basename(Deno.execPath()) === "deno") return Deno.execPath();
  throw new GuestImageError(
    "FailedPrecondition",
    "Cannot find a deno runtime for the guest agent: set COCOON_DENO_BIN or pass denoBinary",
  );
}

/** Decides and, where needed, builds the agent payload (into `workDir`). */
export async function resolvePayload(
  opts: BuildGuestImageOptions,
  workDir: string,
  signal?: AbortSignal,
): Promise<ResolvedPayload> {
  let payload: AgentPayload;
  if (opts.agentBinary !== undefined) {
    payload = { kind: "compiled", binary: opts.agentBinary };
  } else if (opts.agentBundle !== undefined || Deno.env.get("COCOON_AGENT_BUNDLE")) {
    // COCOON_AGENT_BUNDLE: set by compile.sh's launcher to the agent bundle shipped beside cocoon.
    payload = {
      kind: "bundle",
      bundle: opts.agentBundle ?? Deno.env.get("COCOON_AGENT_BUNDLE") ?? "",
      deno: opts.denoBinary ?? await defaultDenoBinary(),
    };
  } else {
    const main = join(REPO_ROOT, "agent/main.ts");
    if (!(await isFile(main))) {
      throw new GuestImageError(
        "FailedPrecondition",
        `Cannot build the guest agent: "${main}" does not exist (pass agentBundle or agentBinary)`,
      );
    }
    const deno = opts.denoBinary ?? await defaultDenoBinary();
    const sig = signal ? { signal, cwd: REPO_ROOT } : { cwd: REPO_ROOT };
    if (Deno.env.get("DENORT_BIN")) {
      const out = join(workDir, "cocoon-agent");
      await exec(deno, ["compile", "-A", "--unstable-net", "--unstable-ffi", "--output", out, main], sig);
      payload = { kind: "compiled", binary: out };
    } else {
      const out = join(workDir, "agent.js");
      await exec(deno, ["bundle", "--platform", "deno", "--output", out, main], sig);
      payload = { kind: "bundle", bundle: out, deno };
    }
  }
  const file = payload.kind === "compiled" ? payload.binary : payload.bundle;
  let runtime: ResolvedPayload["runtime"] = null;
  if (payload.kind === "bundle") {
    runtime = {
      name: "deno",
      version: await denoVersion(payload.deno, signal),
      size: (await Deno.stat(payload.deno)).size,
      sha256: await sha256File(payload.deno),
    };
  }
  try {
    return { payload, sha256: await sha256File(file), size: (await Deno.stat(file)).size, runtime };
  } catch (e) {
    throw new GuestImageError("NotFound", `Cannot read the agent "${file}": ${errText(e)}`, { cause: e });
  }
}

async function denoVersion(deno: string, signal?: AbortSignal): Promise<string> {
  const out = await exec(deno, ["--version"], signal ? { signal } : {});
  const m = /^deno (\S+)/m.exec(out);
  return m?.[1] ?? "unknown";
}

async function isFile(p: string): Promise<boolean> {
  try {
    return (await Deno.stat(p)).isFile;
  } catch {
    return false;
  }
}
