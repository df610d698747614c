/**
 * Configuration lookup and loading: `--config`, `COCOON_CONFIG`, `/etc/cocoon/configuration.toml`,
 * then the built-in `configs/configuration-qemu.toml`; drop-ins from `configuration.d/` beside the
 * chosen file merged in lexical order (raw trees, like Kata's drop_in.rs), then validated.
 *
 * @module
 */
import { resolveSharedFsAuto, type VirtiofsdProbe } from "./shared_fs.ts";
import { parse, TomlError } from "smol-toml";
import builtinToml from "../../configs/configuration-qemu.toml" with { type: "text" };
import { ConfigError } from "../errors.ts";
import { resolveConfig } from "./resolve.ts";
import type { ResolvedConfig } from "./schema.ts";

const SYSTEM_CONFIG = "/etc/cocoon/configuration.toml";
export const BUILTIN_NAME = "builtin:configs/configuration-qemu.toml";

export interface LoadConfigOptions {
  /** `--config` */
  path?: string | undefined;
  /** Environment lookup (defaults to Deno.env.get). */
  env?: (name: string) => string | undefined;
  /** The system path to try (tests override it). */
  systemPath?: string;
  /** How `shared_fs = "auto"` looks for virtiofsd (tests override it). */
  probeVirtiofsd?: VirtiofsdProbe;
}

/** Finds, reads, merges and validates the configuration. */
export async function loadConfig(opts: LoadConfigOptions = {}): Promise<ResolvedConfig> {
  const env = opts.env ?? ((n: string) => Deno.env.get(n));
  const explicit = opts.path ?? env("COCOON_CONFIG");
  let file: string;
  let text: string;
  if (explicit !== undefined && explicit !== "") {
    file = explicit;
    text = await readConfigFile(file, explicit === opts.path ? "--config" : "COCOON_CONFIG");
  } else {
    const sys = opts.systemPath ?? SYSTEM_CONFIG;
    const t = await readIfExists(sys);
    if (t !== undefined) {
      file = sys;
      text = t;
    } else {
      file = BUILTIN_NAME;
      text = builtinToml;
    }
  }
  let merged = parseToml(text, file);
  const dropIns: string[] = [];
  if (file !== BUILTIN_NAME) {
    const dir = `${dirname(file)}/configuration.d`;
    for (const p of await listDropIns(dir)) {
      merged = mergeRaw(merged, parseToml(await readConfigFile(p, "drop-in"), p));
      dropIns.push(p);
    }
  }
  return await resolveSharedFsAuto(
    resolveConfig(merged, { file, dropIns }),
    opts.probeVirtiofsd ? { probe: opts.probeVirtiofsd } : {},
  );
}

/** Parses TOML text; syntax errors name the file, line and column. */
export function parseToml(text: string, file: string): Record<string, unknown> {
  try {
    return parse(text);
  } catch (e) {
    const where = e instanceof TomlError ? ` at line ${e.line}, column ${e.column}` : "";
    const msg = e instanceof Error ? e.message.split("\n")[0] : String(e);
    throw new ConfigError("InvalidArgument", `Cannot parse config "${file}"${where}: ${msg}`, { cause: e });
  }
}

/** Deep-merges `over` into `base`: tables merge key by key, everything else (arrays too) replaces. */
export function mergeRaw(
  base: Record<string, unknown>,
  over: Record<string, unknown>,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = isTable(b) && isTable(v) ? mergeRaw(b, v) : v;
  }
  return out;
}

function isTable(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x) && !(x instanceof Date);
}

async function listDropIns(dir: string): Promise<string[]> {
  const out: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      if ((e.isFile || e.isSymlink) && e.name.endsWith(".toml") && !e.name.startsWith(".")) {
        out.push(`${dir}/${e.name}`);
      }
    }
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw new ConfigError("PermissionDenied", `Cannot read drop-in directory "${dir}"`, { cause: e });
  }
  return out.sort();
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw new ConfigError("PermissionDenied", `Cannot read config "${path}"`, { cause: e });
  }
}

async function readConfigFile(path: string, from: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    const code = e instanceof Deno.errors.NotFound ? "NotFound" : "PermissionDenied";
    throw new ConfigError(code, `Cannot read config "${path}" (from ${from}): ${(e as Error).message}`, {
      cause: e,
    });
  }
}

function dirname(p: string): string {
  const i = p.lastIndexOf("/");
  return i <= 0 ? (i === 0 ? "/" : ".") : p.slice(0, i);
}
