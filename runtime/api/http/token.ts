/**
 * The management API's bearer token for TCP listeners: 32 random bytes as hex in a 0600 file of
 * the user running Cocoon (default `<state_dir>/api.token`). Made when first needed; `cocoon api
 * token --rotate` replaces it (listeners read it when they start, so restart them). A file that
 * others may read, or that someone else owns, is refused rather than used.
 *
 * @module
 */
import { RuntimeError } from "../../errors.ts";
import { writeAtomic } from "../../sys/files.ts";

/** The default token file of a state directory. Pure. */
export function defaultTokenFile(stateDir: string): string {
  return `${stateDir.replace(/\/+$/, "")}/api.token`;
}

function newToken(): string {
  return [...crypto.getRandomValues(new Uint8Array(32))].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Writes a fresh token to `path` (0600, atomically) and returns it. */
export async function rotateToken(path: string): Promise<string> {
  const dir = path.slice(0, path.lastIndexOf("/")) || "/";
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  const token = newToken();
  await writeAtomic(path, `${token}\n`, 0o600);
  return token;
}

/**
 * The token in `path`, made when the file does not exist.
 *
 * @throws {RuntimeError} `PermissionDenied` when the file is readable by others or owned by another
 * user, `DataLoss` when it does not hold a token.
 */
export async function readOrCreateToken(path: string): Promise<string> {
  let st: Deno.FileInfo;
  try {
    st = await Deno.lstat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return await rotateToken(path);
    throw e;
  }
  const mode = (st.mode ?? 0) & 0o777;
  if (!st.isFile || (mode & 0o077) !== 0 || (st.uid !== null && st.uid !== Deno.uid())) {
    throw new RuntimeError(
      "PermissionDenied",
      `Cannot use the API token file "${path}": it must be a regular file of uid ${Deno.uid()} with mode 0600 ` +
        `(it has mode ${
          mode.toString(8).padStart(4, "0")
        }, uid ${st.uid}); fix it or run \`cocoon api token --rotate\``,
    );
  }
  const token = (await Deno.readTextFile(path)).trim();
  if (!/^[0-9a-f]{64}$/.test(token)) {
    throw new RuntimeError(
      "DataLoss",
      `Cannot use the API token file "${path}": it does not hold a token; run \`cocoon api token --rotate\``,
    );
  }
  return token;
}
