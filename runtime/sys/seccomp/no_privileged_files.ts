/**
 * A seccomp filter (classic BPF, as `seccomp(2)` loads it) that keeps a process
 * from making files the host would treat as privileged: no set-user-ID or set-group-ID bit on any
 * chmod, creat, open(O_CREAT), mkdir or mknod; no character or block device nodes; no extended
 * attributes (file capabilities live in `security.capability`). Those calls fail with EPERM;
 * openat2 and io_uring (whose arguments a filter cannot read) fail with ENOSYS so callers fall back
 * to the calls above. Everything else is allowed.
 *
 * It is put on the processes that write host files for a guest: virtiofsd and QEMU (virtio-9p).
 * Without it, guest root could create a setuid-root binary or a device node in a shared volume and
 * a host user could use it. Written here because no library builds BPF for Deno; the program is
 * small and checked instruction by instruction by its test (an interpreter runs it).
 *
 * @module
 */

/** One classic BPF instruction (`struct sock_filter`). */
export interface BpfInsn {
  readonly code: number;
  readonly jt: number;
  readonly jf: number;
  readonly k: number;
}

// Opcodes (linux/bpf_common.h).
const LD_W_ABS = 0x20;
const JEQ_K = 0x15;
const JSET_K = 0x45;
const ALU_AND_K = 0x54;
const RET_K = 0x06;

/** `AUDIT_ARCH_X86_64`. */
export const AUDIT_ARCH_X86_64 = 0xc000003e;
const X32_SYSCALL_BIT = 0x40000000;

export const SECCOMP_RET_ALLOW = 0x7fff0000;
export const SECCOMP_RET_KILL_PROCESS = 0x80000000;
export const SECCOMP_RET_ERRNO = 0x00050000;
const EPERM = 1;
const ENOSYS = 38;

/** x86_64 syscall numbers this filter looks at. */
export const SYS = {
  open: 2,
  creat: 85,
  mkdir: 83,
  chmod: 90,
  fchmod: 91,
  mknod: 133,
  setxattr: 188,
  lsetxattr: 189,
  fsetxattr: 190,
  openat: 257,
  mkdirat: 258,
  mknodat: 259,
  fchmodat: 268,
  io_uring_setup: 425,
  openat2: 437,
  fchmodat2: 452,
} as const;

const S_ISUID_ISGID = 0o6000;
const S_IFMT = 0o170000;
const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
/** O_CREAT | __O_TMPFILE: the flags that make open use its mode argument. */
const O_CREAT_OR_TMPFILE = 0o100 | 0o20000000;

/** Offset of the low 32 bits of syscall argument `i` in `struct seccomp_data` (little endian). */
const arg = (i: number) => 16 + 8 * i;

type Op =
  | { op: "ld"; off: number }
  | { op: "and"; k: number }
  | { op: "jeq" | "jset"; k: number; to: string }
  | { op: "ret"; k: number }
  | { op: "label"; name: string };

/** Resolves labels into relative forward jumps (jt = taken, jf = 0: fall through). */
function assemble(ops: readonly Op[]): BpfInsn[] {
  const at = new Map<string, number>();
  let n = 0;
  for (const o of ops) {
    if (o.op === "label") at.set(o.name, n);
    else n++;
  }
  const out: BpfInsn[] = [];
  for (const o of ops) {
    switch (o.op) {
      case "label":
        break;
      case "ld":
        out.push({ code: LD_W_ABS, jt: 0, jf: 0, k: o.off });
        break;
      case "and":
        out.push({ code: ALU_AND_K, jt: 0, jf: 0, k: o.k });
        break;
      case "ret":
        out.push({ code: RET_K, jt: 0, jf: 0, k: o.k });
        break;
      default: {
        const target = at.get(o.to);
        const jt = target === undefined ? -1 : target - out.length - 1;
        if (jt < 0 || jt > 255) throw new Error(`BPF jump to "${o.to}" out of range`);
        out.push({ code: o.op === "jeq" ? JEQ_K : JSET_K, jt, jf: 0, k: o.k });
      }
    }
  }
  return out;
}

/** The filter, for x86_64. */
export function noPrivilegedFilesProgram(): BpfInsn[] {
  const modeChecks: [string, number][] = [
    ["chmod", arg(1)],
    ["fchmod", arg(1)],
    ["fchmodat", arg(2)],
    ["fchmodat2", arg(2)],
    ["creat", arg(1)],
    ["mkdir", arg(1)],
    ["mkdirat", arg(2)],
  ];
  const ops: Op[] = [
    { op: "ld", off: 4 },
    { op: "jeq", k: AUDIT_ARCH_X86_64, to: "x86_64" },
    { op: "ret", k: SECCOMP_RET_KILL_PROCESS },
    { op: "label", name: "x86_64" },
    { op: "ld", off: 0 },
    { op: "jset", k: X32_SYSCALL_BIT, to: "eperm" },
    ...modeChecks.map(([name]): Op => ({ op: "jeq", k: SYS[name as keyof typeof SYS], to: name })),
    { op: "jeq", k: SYS.open, to: "open" },
    { op: "jeq", k: SYS.openat, to: "openat" },
    { op: "jeq", k: SYS.mknod, to: "mknod" },
    { op: "jeq", k: SYS.mknodat, to: "mknodat" },
    { op: "jeq", k: SYS.setxattr, to: "eperm" },
    { op: "jeq", k: SYS.lsetxattr, to: "eperm" },
    { op: "jeq", k: SYS.fsetxattr, to: "eperm" },
    { op: "jeq", k: SYS.openat2, to: "enosys" },
    { op: "jeq", k: SYS.io_uring_setup, to: "enosys" },
    { op: "ret", k: SECCOMP_RET_ALLOW },
    ...modeChecks.flatMap(([name, off]): Op[] => [
      { op: "label", name },
      { op: "ld", off },
      { op: "jset", k: S_ISUID_ISGID, to: "eperm" },
      { op: "ret", k: SECCOMP_RET_ALLOW },
    ]),
    ...(["open", "openat"] as const).flatMap((name): Op[] => {
      const [flags, mode] = name === "open" ? [arg(1), arg(2)] : [arg(2), arg(3)];
      return [
        { op: "label", name },
        { op: "ld", off: flags },
        { op: "jset", k: O_CREAT_OR_TMPFILE, to: `${name}-mode` },
        { op: "ret", k: SECCOMP_RET_ALLOW },
        { op: "label", name: `${name}-mode` },
        { op: "ld", off: mode },
        { op: "jset", k: S_ISUID_ISGID, to: "eperm" },
        { op: "ret", k: SECCOMP_RET_ALLOW },
      ];
    }),
    ...(["mknod", "mknodat"] as const).flatMap((name): Op[] => [
      { op: "label", name },
      { op: "ld", off: name === "mknod" ? arg(1) : arg(2) },
      { op: "jset", k: S_ISUID_ISGID, to: "eperm" },
      { op: "and", k: S_IFMT },
      { op: "jeq", k: S_IFCHR, to: "eperm" },
      { op: "jeq", k: S_IFBLK, to: "eperm" },
      { op: "ret", k: SECCOMP_RET_ALLOW },
    ]),
    { op: "label", name: "eperm" },
    { op: "ret", k: SECCOMP_RET_ERRNO | EPERM },
    { op: "label", name: "enosys" },
    { op: "ret", k: SECCOMP_RET_ERRNO | ENOSYS },
  ];
  return assemble(ops);
}

/** The program as the kernel reads it: 8 bytes an instruction, little endian. */
export function encodeProgram(prog: readonly BpfInsn[]): Uint8Array {
  const buf = new Uint8Array(prog.length * 8);
  const v = new DataView(buf.buffer);
  prog.forEach((p, i) => {
    v.setUint16(i * 8, p.code, true);
    v.setUint8(i * 8 + 2, p.jt);
    v.setUint8(i * 8 + 3, p.jf);
    v.setUint32(i * 8 + 4, p.k, true);
  });
  return buf;
}

/** Whether this host's syscall table is the one the filter is written for. */
export function filterSupported(arch: string = Deno.build.arch): boolean {
  return arch === "x86_64";
}
