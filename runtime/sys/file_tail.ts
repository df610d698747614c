/**
 * The end of a file a guest writes (a console log): read from the end, never whole.
 *
 * @module
 */

/** The last `max` bytes of a file (empty when it is missing or unreadable). */
export async function readFileTail(path: string, max: number): Promise<Uint8Array> {
  let f: Deno.FsFile;
  try {
    f = await Deno.open(path, { read: true });
  } catch {
    return new Uint8Array(0);
  }
  try {
    const size = (await f.stat()).size;
    const from = Math.max(0, size - max);
    await f.seek(from, Deno.SeekMode.Start);
    const buf = new Uint8Array(size - from);
    let off = 0;
    while (off < buf.length) {
      const n = await f.read(buf.subarray(off));
      if (n === null) break;
      off += n;
    }
    return buf.subarray(0, off);
  } catch {
    return new Uint8Array(0);
  } finally {
    f.close();
  }
}
