import assert from "node:assert/strict";
import {
  AUDIT_ARCH_X86_64,
  type BpfInsn,
  encodeProgram,
  noPrivilegedFilesProgram,
  SECCOMP_RET_ALLOW,
  SECCOMP_RET_ERRNO,
  SECCOMP_RET_KILL_PROCESS,
  SYS,
} from "./no_privileged_files.ts";

/** Runs a classic BPF program over a `struct seccomp_data` (the subset of opcodes it uses). */
function run(prog: readonly BpfInsn[], nr: number, args: number[], arch = AUDIT_ARCH_X86_64): number {
  const data = new DataView(new ArrayBuffer(64));
  data.setUint32(0, nr, true);
  data.setUint32(4, arch, true);
  args.forEach((a, i) => data.setUint32(16 + 8 * i, a, true));
  let acc = 0;
  for (let pc = 0; pc < prog.length; pc++) {
    const p = prog[pc]!;
    switch (p.code) {
      case 0x20:
        acc = data.getUint32(p.k, true);
        break;
      case 0x54:
        acc = (acc & p.k) >>> 0;
        break;
      case 0x15:
        pc += acc === p.k ? p.jt : p.jf;
        break;
      case 0x45:
        pc += (acc & p.k) !== 0 ? p.jt : p.jf;
        break;
      case 0x06:
        return p.k >>> 0;
      default:
        throw new Error(`opcode ${p.code}`);
    }
  }
  throw new Error("fell off the end");
}

const prog = noPrivilegedFilesProgram();
const EPERM = SECCOMP_RET_ERRNO | 1;
const ENOSYS = SECCOMP_RET_ERRNO | 38;

Deno.test("no-privileged-files filter refuses setuid/setgid modes on chmod, creat, open and mkdir", () => {
  assert.equal(run(prog, SYS.chmod, [0, 0o4755]), EPERM);
  assert.equal(run(prog, SYS.chmod, [0, 0o2755]), EPERM);
  assert.equal(run(prog, SYS.chmod, [0, 0o755]), SECCOMP_RET_ALLOW);
  assert.equal(run(prog, SYS.fchmod, [3, 0o6777]), EPERM);
  assert.equal(run(prog, SYS.fchmod, [3, 0o644]), SECCOMP_RET_ALLOW);
  assert.equal(run(prog, SYS.fchmodat, [3, 0, 0o4711, 0]), EPERM);
  assert.equal(run(prog, SYS.fchmodat, [3, 0, 0o711, 0]), SECCOMP_RET_ALLOW);
  assert.equal(run(prog, SYS.fchmodat2, [3, 0, 0o4711, 0]), EPERM);
  assert.equal(run(prog, SYS.creat, [0, 0o4755]), EPERM);
  assert.equal(run(prog, SYS.mkdirat, [3, 0, 0o2775]), EPERM);
  assert.equal(run(prog, SYS.mkdir, [0, 0o755]), SECCOMP_RET_ALLOW);
  // open/openat look at the mode only when it is used (O_CREAT or O_TMPFILE).
  assert.equal(run(prog, SYS.openat, [3, 0, 0o100 | 0o1, 0o4755]), EPERM);
  assert.equal(run(prog, SYS.openat, [3, 0, 0o20200000, 0o4755]), EPERM);
  assert.equal(run(prog, SYS.openat, [3, 0, 0o100, 0o644]), SECCOMP_RET_ALLOW);
  assert.equal(run(prog, SYS.openat, [3, 0, 0o2, 0o4755]), SECCOMP_RET_ALLOW);
  assert.equal(run(prog, SYS.open, [0, 0o100, 0o6755]), EPERM);
  assert.equal(run(prog, SYS.open, [0, 0, 0o6755]), SECCOMP_RET_ALLOW);
});

Deno.test("no-privileged-files filter refuses device nodes and xattrs, allows fifos and sockets", () => {
  assert.equal(run(prog, SYS.mknod, [0, 0o020666, 0x0103]), EPERM);
  assert.equal(run(prog, SYS.mknodat, [3, 0, 0o060660, 0x0801]), EPERM);
  assert.equal(run(prog, SYS.mknodat, [3, 0, 0o010644, 0]), SECCOMP_RET_ALLOW);
  assert.equal(run(prog, SYS.mknodat, [3, 0, 0o140755, 0]), SECCOMP_RET_ALLOW);
  assert.equal(run(prog, SYS.mknodat, [3, 0, 0o104755, 0]), EPERM);
  for (const nr of [SYS.setxattr, SYS.lsetxattr, SYS.fsetxattr]) assert.equal(run(prog, nr, []), EPERM);
  assert.equal(run(prog, SYS.openat2, []), ENOSYS);
  assert.equal(run(prog, SYS.io_uring_setup, []), ENOSYS);
  assert.equal(run(prog, 0, /* read */ [3, 0, 100]), SECCOMP_RET_ALLOW);
  assert.equal(run(prog, SYS.chmod | 0x40000000, [0, 0o755]), EPERM, "x32 calls are refused");
  assert.equal(run(prog, SYS.chmod, [0, 0o755], 0x40000003), SECCOMP_RET_KILL_PROCESS, "i386 calls kill");
});

Deno.test("encodeProgram() writes struct sock_filter little endian", () => {
  const bytes = encodeProgram([{ code: 0x20, jt: 1, jf: 2, k: 0x01020304 }]);
  assert.deepEqual([...bytes], [0x20, 0, 1, 2, 4, 3, 2, 1]);
  assert.equal(encodeProgram(prog).length, prog.length * 8);
});
