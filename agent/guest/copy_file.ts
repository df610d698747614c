/**
 * CopyFile: writes one chunk of a host file into the guest (offset 0 creates/truncates), or makes a
 * symlink; parent directories are created with `dirMode`.
 *
 * @module
 */
import { RuntimeError } from "../../runtime/errors.ts";

export interface CopyFileChunk {
  readonly path: string;
  readonly fileSize: number;
  readonly fileMode: number;
  readonly dirMode: number;
  readonly uid: number;
  readonly gid: number;
  readonly offset: number;
  readonly data: Uint8Array;
  readonly symlinkTarget: string;
}

export async function copyFileChunk(c: CopyFileChunk): Promise<void> {
  if (!c.path.startsWith("/") || c.path.split("/").includes("..")) {
    throw new RuntimeError(
      "InvalidArgument",
      `Cannot copy to "${c.path.slice(0, 200)}": expected an absolute path without ".."`,
    );
  }
  if (c.offset + c.data.length > c.fileSize && c.symlinkTarget === "") {
    throw new RuntimeError(
      "InvalidArgument",
      `Cannot copy to "${c.path}": chunk ends past file size ${c.fileSize}`,
    );
  }
  const dir = c.path.slice(0, c.path.lastIndexOf("/")) || "/";
  await Deno.mkdir(dir, { recursive: true, mode: c.dirMode || 0o755 });
  if (c.symlinkTarget !== "") {
    await Deno.remove(c.path).catch(() => {});
    await Deno.symlink(c.symlinkTarget, c.path);
    return;
  }
  const f = await Deno.open(c.path, {
    write: true,
    create: true,
    truncate: c.offset === 0,
    mode: c.fileMode || 0o644,
  });
  try {
    await f.seek(c.offset, Deno.SeekMode.Start);
    let off = 0;
    while (off < c.data.length) off += await f.write(c.data.subarray(off));
  } finally {
    f.close();
  }
  if (c.offset === 0) {
    await Deno.chmod(c.path, c.fileMode || 0o644);
    await Deno.chown(c.path, c.uid, c.gid).catch(() => {});
  }
}
