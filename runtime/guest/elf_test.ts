import assert from "node:assert/strict";
import { parseElfDeps, type ReadAt, readElfDeps } from "./elf.ts";

/** Builds a minimal ELF64 image: one PT_LOAD covering everything, PT_INTERP and PT_DYNAMIC. */
function fakeElf(interp: string | null, needed: string[]): Uint8Array {
  const enc = new TextEncoder();
  const strs = [""].concat(needed);
  const strtab: number[] = [];
  const offsets: number[] = [];
  for (const s of strs) {
    offsets.push(strtab.length);
    strtab.push(...enc.encode(s), 0);
  }
  const phnum = interp === null ? 2 : 3;
  const phoff = 64;
  const interpOff = phoff + 56 * phnum;
  const interpBytes = interp === null ? new Uint8Array() : enc.encode(interp + "\0");
  const strOff = interpOff + interpBytes.length;
  const dynOff = strOff + strtab.length + ((8 - ((strOff + strtab.length) % 8)) % 8);
  const dynCount = needed.length + 2;
  const total = dynOff + dynCount * 16;
  const buf = new Uint8Array(total);
  const v = new DataView(buf.buffer);
  buf.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  v.setBigUint64(32, BigInt(phoff), true);
  v.setUint16(54, 56, true);
  v.setUint16(56, phnum, true);
  const vbase = 0x400000n;
  let p = phoff;
  const ph = (type: number, off: number, size: number): void => {
    v.setUint32(p, type, true);
    v.setBigUint64(p + 8, BigInt(off), true);
    v.setBigUint64(p + 16, vbase + BigInt(off), true);
    v.setBigUint64(p + 32, BigInt(size), true);
    p += 56;
  };
  ph(1, 0, total);
  if (interp !== null) ph(3, interpOff, interpBytes.length);
  ph(2, dynOff, dynCount * 16);
  buf.set(interpBytes, interpOff);
  buf.set(strtab, strOff);
  let d = dynOff;
  needed.forEach((_, i) => {
    v.setBigInt64(d, 1n, true);
    v.setBigUint64(d + 8, BigInt(offsets[i + 1] ?? 0), true);
    d += 16;
  });
  v.setBigInt64(d, 5n, true);
  v.setBigUint64(d + 8, vbase + BigInt(strOff), true);
  return buf;
}

const reader = (b: Uint8Array): ReadAt => (off, len) => Promise.resolve(b.subarray(off, off + len));

Deno.test({
  name: "parseElfDeps() returns the interpreter and DT_NEEDED sonames in order",
  permissions: "none",
  async fn() {
    const elf = fakeElf("/lib64/ld-linux-x86-64.so.2", ["libseccomp.so.2", "libc.so.6"]);
    const deps = await parseElfDeps(reader(elf));
    assert.deepEqual(deps, {
      interpreter: "/lib64/ld-linux-x86-64.so.2",
      needed: ["libseccomp.so.2", "libc.so.6"],
    });
  },
});

Deno.test({
  name: "parseElfDeps() reports no interpreter and no needs for a library without them",
  permissions: "none",
  async fn() {
    assert.deepEqual(await parseElfDeps(reader(fakeElf(null, []))), { interpreter: null, needed: [] });
  },
});

Deno.test({
  name: "parseElfDeps() rejects a file that is not ELF",
  permissions: "none",
  async fn() {
    const notElf = new TextEncoder().encode("#!/bin/sh\necho hello\n".padEnd(80, " "));
    await assert.rejects(parseElfDeps(reader(notElf), "x.sh"), /Cannot read "x.sh": not an ELF file/);
  },
});

Deno.test({
  name: "readElfDeps() reads a real dynamically linked program",
  permissions: { read: true },
  async fn() {
    const deps = await readElfDeps(Deno.execPath());
    assert.equal(deps.interpreter, "/lib64/ld-linux-x86-64.so.2");
    assert.ok(deps.needed.includes("libc.so.6"), deps.needed.join(","));
  },
});
