/**
 * Unix sockets that nobody else can connect to, not even for a moment. Binding at the final path
 * and chmod'ing afterwards leaves a window in which the socket has the umask's mode (often 0755:
 * any local user connects), and Deno has no umask call. So the socket is bound in a fresh 0700
 * directory beside its path, given its mode there, and renamed onto the path: a connect resolves
 * the path to the socket's inode, which no one could reach before it had its final mode.
 *
 * @module
 */
import { RuntimeError } from "../errors.ts";

/** Longest unix socket path (sun_path is 108 bytes with its NUL). */
export const MAX_SOCKET_PATH = 107;

/**
 * Binds with `bind(tmpPath)` in a private directory beside `path`, sets `mode` (default 0600), and
 * moves the socket onto `path` (replacing what was there). Returns what `bind` returned.
 *
 * @throws {RuntimeError} `InvalidArgument` for a relative or too long path, `Unavailable` when
 * binding fails.
 */
export async function listenPrivate<T>(
  path: string,
  bind: (tmpPath: string) => T | Promise<T>,
  opts: { mode?: number; close?: (bound: T) => void | Promise<void> } = {},
): Promise<T> {
  if (!path.startsWith("/")) {
    throw new RuntimeError("InvalidArgument", `Invalid socket path "${path}": it must be absolute`);
  }
  const dir = path.slice(0, path.lastIndexOf("/")) || "/";
  // ".s" + 6 random characters + "/s": fits wherever `path` fits, when its name has 4+ characters
  const stage = await Deno.makeTempDir({ dir, prefix: ".s" });
  const tmp = `${stage}/s`;
  if (new TextEncoder().encode(tmp).length > MAX_SOCKET_PATH) {
    await Deno.remove(stage, { recursive: true }).catch(() => {});
    throw new RuntimeError(
      "InvalidArgument",
      `Invalid socket path "${path}": its directory is too deep for a unix socket (${MAX_SOCKET_PATH} bytes)`,
    );
  }
  let bound: T | undefined;
  try {
    bound = await bind(tmp);
    await Deno.chmod(tmp, opts.mode ?? 0o600);
    await Deno.rename(tmp, path);
    return bound;
  } catch (e) {
    if (bound !== undefined) await opts.close?.(bound);
    throw e instanceof RuntimeError
      ? e
      : new RuntimeError("Unavailable", `Cannot listen on "${path}": ${String(e)}`, { cause: e });
  } finally {
    await Deno.remove(stage, { recursive: true }).catch(() => {});
  }
}
