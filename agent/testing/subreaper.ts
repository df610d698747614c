/**
 * Test helper: hold the child-subreaper flag only while a test needs it. `deno test` runs every
 * module of a run in one process (workers share the pid), so the flag is process-wide; a count kept
 * in a locked file (module state is per worker) makes the last user clear it, and other modules'
 * orphans are not captured outside that window.
 *
 * @module
 */
import { clearChildSubreaper, setChildSubreaper } from "../sys/libc.ts";

const COUNT_FILE = `/tmp/cocoon-subreaper-${Deno.pid}.count`;

/** The count file, opened and locked; retried while another user removed it meanwhile. */
async function lockedCount(): Promise<Deno.FsFile> {
  for (;;) {
    const f = await Deno.open(COUNT_FILE, { read: true, write: true, create: true });
    await f.lock(true);
    // the last user removes the file: a lock taken on the removed inode counts for nobody
    const now = await Deno.stat(COUNT_FILE).catch(() => null);
    if (now !== null && now.ino === (await f.stat()).ino) return f;
    await f.unlock().catch(() => {});
    f.close();
  }
}

async function update(delta: 1 | -1): Promise<void> {
  using f = await lockedCount();
  try {
    const buf = new Uint8Array(32);
    const n = (await f.read(buf)) ?? 0;
    const before = Number(new TextDecoder().decode(buf.subarray(0, n)).trim() || "0");
    const after = Math.max(0, before + delta);
    if (before === 0 && after === 1) setChildSubreaper();
    if (before >= 1 && after === 0) clearChildSubreaper();
    await f.truncate(0);
    await f.seek(0, Deno.SeekMode.Start);
    await f.write(new TextEncoder().encode(String(after)));
    if (after === 0) await Deno.remove(COUNT_FILE).catch(() => {});
  } finally {
    await f.unlock().catch(() => {});
  }
}

/** Sets the flag (first user) and returns a release function (last user clears it). */
export async function holdSubreaper(): Promise<() => Promise<void>> {
  await update(1);
  let released = false;
  return async () => {
    if (released) return;
    released = true;
    await update(-1);
  };
}
