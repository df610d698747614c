/**
 * File and JSON helpers shared by the core and the plugins: the one atomic write (temp file,
 * fsync, rename, fsync of the directory), and the one plain-object check for parsed JSON.
 *
 * @module
 */

/** True for a plain JSON object (not null, not an array). Pure. */
export function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

/**
 * Writes `text` to `path` so that a reader, even after a crash, sees the old content or the new,
 * never a mix: a temp file beside it (fsynced), renamed over `path`, then the directory fsynced.
 */
export async function writeAtomic(path: string, text: string, mode = 0o600): Promise<void> {
  const tmp = `${path}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  const f = await Deno.open(tmp, { write: true, create: true, truncate: true, mode });
  try {
    await f.write(new TextEncoder().encode(text));
    await f.syncData();
  } catch (e) {
    f.close();
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
  f.close();
  try {
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
  const dir = path.slice(0, Math.max(1, path.lastIndexOf("/")));
  const d = await Deno.open(dir, { read: true }).catch(() => undefined);
  if (d !== undefined) {
    try {
      await d.syncData();
    } catch {
      // a directory that cannot be fsynced (some file systems): the rename stands
    } finally {
      d.close();
    }
  }
}
