/**
 * Just enough of ELF64 (little-endian) to learn what a dynamically linked program needs at run time:
 * its interpreter (PT_INTERP) and its DT_NEEDED sonames. Used to copy the right shared libraries
 * from Debian packages into the guest userland.
 *
 * @module
 */
import { GuestImageError } from "../errors.ts";

/** What the dynamic loader will need for one ELF file. */
export interface ElfDeps {
  /** PT_INTERP, e.g. `/lib64/ld-linux-x86-64.so.2`; null for static executables. */
  interpreter: string | null;
  /** DT_NEEDED sonames in file order. */
  needed: string[];
}

/** Reads `len` bytes at `offset`; may return fewer at end of file. */
export type ReadAt = (offset: number, len: number) => Promise<Uint8Array>;

const PT_LOAD = 1;
const PT_DYNAMIC = 2;
const PT_INTERP = 3;
const DT_NULL = 0n;
const DT_NEEDED = 1n;
const DT_STRTAB = 5n;

/** Parses the dynamic dependencies of an ELF64 LE file through `readAt` (reads only what it needs). */
export async function parseElfDeps(readAt: ReadAt, what = "file"): Promise<ElfDeps> {
  const eh = await readAt(0, 64);
  if (eh.length < 64 || eh[0] !== 0x7f || eh[1] !== 0x45 || eh[2] !== 0x4c || eh[3] !== 0x46) {
    throw new GuestImageError("InvalidArgument", `Cannot read "${what}": not an ELF file`);
  }
  if (eh[4] !== 2 || eh[5] !== 1) {
    throw new GuestImageError(
      "InvalidArgument",
      `Cannot read "${what}": only ELF64 little-endian is supported`,
    );
  }
  const h = new DataView(eh.buffer, eh.byteOffset, eh.byteLength);
  const phoff = Number(h.getBigUint64(32, true));
  const phentsize = h.getUint16(54, true);
  const phnum = h.getUint16(56, true);
  const ph = await readAt(phoff, phentsize * phnum);
  const pv = new DataView(ph.buffer, ph.byteOffset, ph.byteLength);
  const loads: { vaddr: bigint; offset: bigint; filesz: bigint }[] = [];
  let interpreter: string | null = null;
  let dynamic: { offset: number; size: number } | null = null;
  for (let i = 0; i < phnum; i++) {
    const b = i * phentsize;
    if (b + 56 > ph.length) break;
    const type = pv.getUint32(b, true);
    const offset = pv.getBigUint64(b + 8, true);
    const vaddr = pv.getBigUint64(b + 16, true);
    const filesz = pv.getBigUint64(b + 32, true);
    if (type === PT_LOAD) loads.push({ vaddr, offset, filesz });
    else if (type === PT_INTERP) interpreter = cString(await readAt(Number(offset), Number(filesz)), 0);
    else if (type === PT_DYNAMIC) dynamic = { offset: Number(offset), size: Number(filesz) };
  }
  if (dynamic === null) return { interpreter, needed: [] };
  const dyn = await readAt(dynamic.offset, dynamic.size);
  const dv = new DataView(dyn.buffer, dyn.byteOffset, dyn.byteLength);
  const neededOffsets: bigint[] = [];
  let strtabAddr: bigint | null = null;
  for (let o = 0; o + 16 <= dyn.length; o += 16) {
    const tag = dv.getBigInt64(o, true);
    const val = dv.getBigUint64(o + 8, true);
    if (tag === DT_NULL) break;
    if (tag === DT_NEEDED) neededOffsets.push(val);
    else if (tag === DT_STRTAB) strtabAddr = val;
  }
  if (neededOffsets.length === 0) return { interpreter, needed: [] };
  if (strtabAddr === null) {
    throw new GuestImageError("InvalidArgument", `Cannot read "${what}": DT_NEEDED without DT_STRTAB`);
  }
  const addr = strtabAddr;
  const seg = loads.find((l) => addr >= l.vaddr && addr < l.vaddr + l.filesz);
  if (seg === undefined) {
    throw new GuestImageError(
      "InvalidArgument",
      `Cannot read "${what}": string table outside loaded segments`,
    );
  }
  const strtabOff = Number(seg.offset + (addr - seg.vaddr));
  const needed: string[] = [];
  for (const off of neededOffsets) {
    needed.push(cString(await readAt(strtabOff + Number(off), 256), 0));
  }
  return { interpreter, needed };
}

/** Parses the dynamic dependencies of the ELF file at `path`. */
export async function readElfDeps(path: string): Promise<ElfDeps> {
  using f = await Deno.open(path, { read: true });
  const readAt: ReadAt = async (offset, len) => {
    await f.seek(offset, Deno.SeekMode.Start);
    const buf = new Uint8Array(len);
    let got = 0;
    while (got < len) {
      const n = await f.read(buf.subarray(got));
      if (n === null) break;
      got += n;
    }
    return buf.subarray(0, got);
  };
  return await parseElfDeps(readAt, path);
}

function cString(b: Uint8Array, start: number): string {
  let end = start;
  while (end < b.length && b[end] !== 0) end++;
  return new TextDecoder().decode(b.subarray(start, end));
}
