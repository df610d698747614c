/**
 * A reproducible initramfs writer: the "newc" cpio format (what the kernel unpacks), owner root,
 * mtime 0, entries sorted, optionally gzip-compressed. Written here rather than spawning `cpio` so
 * the output does not depend on the host's cpio and can hold device nodes without root tricks.
 *
 * @module
 */
import { join } from "node:path";

/** An entry that does not exist in the source tree (device nodes). */
export interface CpioSpecial {
  kind: "char";
  path: string;
  mode: number;
  major: number;
  minor: number;
}

export interface CpioOptions {
  compress?: "gzip" | "none";
  /** Extra entries, written after the tree (e.g. `dev/console`). */
  special?: readonly CpioSpecial[];
  signal?: AbortSignal;
}

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;

/** Writes the tree under `root` as a newc archive to `outPath`; returns the archive size in bytes. */
export async function writeCpio(root: string, outPath: string, opts: CpioOptions = {}): Promise<number> {
  const file = await Deno.open(outPath, { write: true, create: true, truncate: true });
  const pass = new TransformStream<Uint8Array<ArrayBuffer>, Uint8Array<ArrayBuffer>>();
  const source = (opts.compress ?? "gzip") === "gzip"
    ? pass.readable.pipeThrough(new CompressionStream("gzip"))
    : pass.readable;
  const piped = source.pipeTo(file.writable);
  const w = pass.writable.getWriter();
  let ino = 1;
  const put = async (
    name: string,
    mode: number,
    size: number,
    data?: Uint8Array<ArrayBuffer>,
    dev?: [number, number],
  ) => {
    opts.signal?.throwIfAborted();
    await w.write(header(name, ino++, mode, size, dev ?? [0, 0]));
    if (data !== undefined) await w.write(data);
  };
  try {
    for await (const e of walk(root, "")) {
      if (e.kind === "dir") {
        await put(e.rel, S_IFDIR | e.perm, 0);
      } else if (e.kind === "symlink") {
        const target = new TextEncoder().encode(await Deno.readLink(join(root, e.rel)));
        await put(e.rel, S_IFLNK | 0o777, target.length, target);
        await w.write(pad(target.length));
      } else {
        await put(e.rel, S_IFREG | e.perm, e.size);
        using f = await Deno.open(join(root, e.rel));
        let written = 0;
        for await (const chunk of f.readable) {
          await w.write(chunk);
          written += chunk.length;
        }
        if (written !== e.size) throw new Error(`File "${e.rel}" changed while archiving`);
        await w.write(pad(e.size));
      }
    }
    for (const s of opts.special ?? []) await put(s.path, S_IFCHR | s.mode, 0, undefined, [s.major, s.minor]);
    await put("TRAILER!!!", 0, 0);
    await w.close();
    await piped;
  } catch (e) {
    await w.abort(e).catch(() => {});
    await piped.catch(() => {});
    throw e;
  }
  return (await Deno.stat(outPath)).size;
}

type WalkEntry =
  | { kind: "dir"; rel: string; perm: number }
  | { kind: "file"; rel: string; perm: number; size: number }
  | { kind: "symlink"; rel: string };

async function* walk(root: string, rel: string): AsyncGenerator<WalkEntry> {
  const names: string[] = [];
  for await (const d of Deno.readDir(join(root, rel))) names.push(d.name);
  names.sort();
  for (const name of names) {
    const r = rel === "" ? name : `${rel}/${name}`;
    const st = await Deno.lstat(join(root, r));
    const perm = (st.mode ?? 0o644) & 0o7777;
    if (st.isSymlink) yield { kind: "symlink", rel: r };
    else if (st.isDirectory) {
      yield { kind: "dir", rel: r, perm };
      yield* walk(root, r);
    } else if (st.isFile) yield { kind: "file", rel: r, perm, size: st.size };
  }
}

function header(
  name: string,
  ino: number,
  mode: number,
  size: number,
  dev: [number, number],
): Uint8Array<ArrayBuffer> {
  const nameBytes = new TextEncoder().encode(name + "\0");
  const hex = (n: number) => n.toString(16).padStart(8, "0");
  const fields = [ino, mode, 0, 0, 1, 0, size, 0, 0, dev[0], dev[1], nameBytes.length, 0];
  const head = new TextEncoder().encode("070701" + fields.map(hex).join(""));
  const total = head.length + nameBytes.length;
  const out = new Uint8Array(total + ((4 - (total % 4)) % 4));
  out.set(head);
  out.set(nameBytes, head.length);
  return out;
}

function pad(n: number): Uint8Array<ArrayBuffer> {
  return new Uint8Array((4 - (n % 4)) % 4);
}
