/**
 * The process of `exec`: from `--process FILE` (an OCI process object, as conmon and containerd
 * pass it) or from arguments on top of the container's own process (runc's rules: --env appends,
 * --cwd and --user replace, --tty sets the terminal). Pure apart from reading files.
 *
 * @module
 */
import { RuntimeError } from "../errors.ts";
import { type JsonObject, parseOciProcess, parseOciSpecText } from "../oci/spec.ts";
import { isRecord } from "../sys/files.ts";

export interface ExecFlags {
  readonly processFile?: string;
  readonly args: readonly string[];
  readonly tty: boolean;
  readonly cwd?: string;
  readonly env: readonly string[];
  readonly user?: string;
  readonly additionalGids: readonly string[];
  readonly noNewPrivs: boolean;
}

/** "uid[:gid]" with numbers. Pure. */
export function parseUser(s: string): { uid: number; gid: number; username?: string } {
  const m = /^(\d+)(?::(\d+))?$/.exec(s);
  if (m !== null) return { uid: Number(m[1]), gid: Number(m[2] ?? 0) };
  // A name (`app`, `app:staff`, `app:100`) is resolved in the guest from the container's own
  // /etc/passwd and /etc/group, as runc does in the container's mount namespace.
  if (/^[A-Za-z_][A-Za-z0-9_.-]{0,31}(?::[A-Za-z0-9_.-]{1,32})?$/.test(s)) {
    return { uid: 0, gid: 0, username: s };
  }
  throw new RuntimeError(
    "InvalidArgument",
    `Invalid --user "${s}": expected uid[:gid] as numbers or user[:group] as names`,
  );
}

/** Builds the exec'd process from `base` (the container's process) and the flags. Pure. */
export function execProcessFrom(base: JsonObject, f: ExecFlags): Record<string, unknown> {
  if (f.args.length === 0) {
    throw new RuntimeError(
      "InvalidArgument",
      'Invalid arguments for "exec": give a command or --process FILE',
    );
  }
  const baseEnv = Array.isArray(base["env"])
    ? base["env"].filter((e): e is string => typeof e === "string")
    : [];
  const p: Record<string, unknown> = {
    ...base,
    args: [...f.args],
    terminal: f.tty,
    env: [...baseEnv, ...f.env],
  };
  if (f.cwd !== undefined) p["cwd"] = f.cwd;
  if (f.user !== undefined || f.additionalGids.length > 0) {
    const u = f.user !== undefined
      ? parseUser(f.user)
      : isRecord(base["user"])
      ? base["user"]
      : { uid: 0, gid: 0 };
    const gids = f.additionalGids.map((g) => {
      if (!/^\d+$/.test(g)) {
        throw new RuntimeError("InvalidArgument", `Invalid --additional-gids "${g}": expected a number`);
      }
      return Number(g);
    });
    p["user"] = { ...u, ...(gids.length > 0 ? { additionalGids: gids } : {}) };
  }
  if (f.noNewPrivs) p["noNewPrivileges"] = true;
  // Validate the result as the holder will.
  parseOciProcess(p, "exec arguments");
  return p;
}

/** Reads `--process FILE` (validated), applying --tty when given. */
export async function readProcessFile(path: string, tty: boolean): Promise<Record<string, unknown>> {
  let x: unknown;
  try {
    x = JSON.parse(await Deno.readTextFile(path));
  } catch (e) {
    throw new RuntimeError(
      "InvalidArgument",
      `Cannot read process file "${path}": ${e instanceof Error ? e.message : String(e)}`,
      {
        cause: e,
      },
    );
  }
  if (!isRecord(x)) {
    throw new RuntimeError("InvalidArgument", `Invalid process file "${path}": expected an object`);
  }
  const p = tty ? { ...x, terminal: true } : x;
  parseOciProcess(p, path);
  return p;
}

/** The container's own process object, from `<bundle>/config.json`. */
export async function bundleProcess(bundle: string): Promise<JsonObject> {
  const file = `${bundle}/config.json`;
  const spec = parseOciSpecText(await Deno.readTextFile(file), file);
  return spec.process?.raw ?? { cwd: "/", env: [], user: { uid: 0, gid: 0 } };
}
