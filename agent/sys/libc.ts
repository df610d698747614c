/**
 * The few libc calls only the agent needs that Deno has no API for, on the shared loader of
 * `runtime/sys/libc_fd.ts` (which also holds `errno`, the non-blocking fd I/O, `poll` and window
 * sizes): `prctl(PR_SET_CHILD_SUBREAPER)`, `waitpid(pid, WNOHANG)` on one pid at a time, a unix
 * socket that receives a pty master over SCM_RIGHTS (`--console-socket`), `kill`, `settimeofday`,
 * `sethostname` and reseeding the CRNG. x86_64 / aarch64 Linux (LP64) struct layouts.
 *
 * Every call here is synchronous on the JS thread.
 *
 * @module
 */
import { RuntimeError } from "../../runtime/errors.ts";
import {
  check,
  cString,
  EAGAIN,
  EINTR,
  errno,
  libc,
  msgHdr,
  offHeap,
  sockaddrUn,
} from "../../runtime/sys/libc_fd.ts";

const ECHILD = 10;

/** Marks this process as a child subreaper: orphaned descendants reparent to it. */
export function setChildSubreaper(): void {
  check(libc().prctl(36, 1n, 0n, 0n, 0n), "set child subreaper (prctl PR_SET_CHILD_SUBREAPER)");
}

/**
 * Clears the subreaper flag. Tests set the flag only while they run containers: `deno test` runs
 * every module in one process, and orphans of other modules must not become ours meanwhile.
 */
export function clearChildSubreaper(): void {
  check(libc().prctl(36, 0n, 0n, 0n, 0n), "clear child subreaper (prctl PR_SET_CHILD_SUBREAPER)");
}

/** How a process ended. */
export type WaitResult =
  | { readonly kind: "running" }
  | { readonly kind: "exited"; readonly code: number }
  | { readonly kind: "signaled"; readonly signal: number }
  | { readonly kind: "not-child" };

/** Decodes a raw wait(2) status word. Stopped/continued states count as running. */
export function decodeWaitStatus(status: number): WaitResult {
  const low = status & 0x7f;
  if (low === 0) return { kind: "exited", code: (status >> 8) & 0xff };
  if (low !== 0x7f) return { kind: "signaled", signal: low };
  return { kind: "running" };
}

/** `waitpid(pid, &status, WNOHANG)` for exactly one pid: never `-1`, so no other child's status is taken. */
export function waitPidNoHang(pid: number): WaitResult {
  if (!Number.isInteger(pid) || pid <= 0) {
    throw new RuntimeError("InvalidArgument", `Cannot wait for pid ${pid}: expected a positive integer`);
  }
  const buf = new Int32Array(1);
  for (;;) {
    const r = libc().waitpid(pid, buf, 1 /* WNOHANG */);
    if (r === 0) return { kind: "running" };
    if (r === pid) return decodeWaitStatus(buf[0] ?? 0);
    const err = errno();
    if (err === EINTR) continue;
    if (err === ECHILD) return { kind: "not-child" };
    throw new RuntimeError("Internal", `Cannot wait for pid ${pid}: errno ${err}`);
  }
}

// ----------------------------------------------------------------------------------------------
// Unix socket receiving one fd (console socket)

const AF_UNIX = 1;
const SOCK_STREAM = 1;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;

/** A listening, non-blocking, close-on-exec unix stream socket bound at `path`. Returns its fd. */
export function listenUnix(path: string): number {
  const sa = sockaddrUn(path);
  const c = libc();
  const fd = check(
    c.socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0),
    `create socket for "${path}"`,
  );
  try {
    check(c.bind(fd, sa, 110), `bind unix socket "${path}"`);
    check(c.listen(fd, 4), `listen on unix socket "${path}"`);
  } catch (e) {
    c.close(fd);
    throw e;
  }
  return fd;
}

/** Non-blocking accept: the connection fd, or null when none is pending. */
export function acceptNoWait(fd: number): number | null {
  const r = libc().accept4(fd, null, null, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (r >= 0) return r;
  const err = errno();
  if (err === EAGAIN || err === EINTR) return null;
  throw new RuntimeError("Internal", `Cannot accept on socket fd ${fd}: errno ${err}`);
}

/**
 * Non-blocking recvmsg that looks for one SCM_RIGHTS fd. Returns `{fd}` (first fd passed; extra
 * fds are closed), `"again"` when nothing is ready, or `"eof"` when the peer closed without one.
 */
export function recvFdNoWait(sock: number): { fd: number } | "again" | "eof" {
  const data = offHeap(4096);
  const control = offHeap(64);
  const msg = msgHdr(data, control);
  const r = Number(libc().recvmsg(sock, msg, 0x40 /* MSG_DONTWAIT */));
  if (r < 0) {
    const err = errno();
    if (err === EAGAIN || err === EINTR) return "again";
    throw new RuntimeError("Internal", `Cannot receive a file descriptor on socket fd ${sock}: errno ${err}`);
  }
  const fds = parseRightsFds(control, Number(new DataView(msg.buffer).getBigUint64(40, true)));
  for (const extra of fds.slice(1)) libc().close(extra);
  const first = fds[0];
  if (first !== undefined) return { fd: first };
  return r === 0 ? "eof" : "again";
}

/** The fds in the SCM_RIGHTS control messages of a msghdr control buffer. Pure. */
export function parseRightsFds(control: Uint8Array, controlLen: number): number[] {
  const v = new DataView(control.buffer, control.byteOffset, control.byteLength);
  const out: number[] = [];
  let off = 0;
  while (off + 16 <= Math.min(controlLen, control.length)) {
    const len = Number(v.getBigUint64(off, true));
    const level = v.getInt32(off + 8, true);
    const type = v.getInt32(off + 12, true);
    if (len < 16) break;
    if (level === 1 /* SOL_SOCKET */ && type === 1 /* SCM_RIGHTS */) {
      for (let p = off + 16; p + 4 <= off + len && p + 4 <= control.length; p += 4) {
        out.push(v.getInt32(p, true));
      }
    }
    off += (len + 7) & ~7;
  }
  return out;
}

// ----------------------------------------------------------------------------------------------
// Processes, clock, hostname, entropy

/** open(2) read-write, non-blocking, close-on-exec (a character device such as a virtio port). */
export function openRdwrNonBlocking(path: string): number {
  return check(libc().open(cString(path), 0o2 | 0o4000 | 0o2000000, 0), `open "${path}"`);
}

/** kill(2). Returns false when the process no longer exists (ESRCH). */
export function killPid(pid: number, signal: number): boolean {
  if (libc().kill(pid, signal) === 0) return true;
  const err = errno();
  if (err === 3 /* ESRCH */) return false;
  throw new RuntimeError("Internal", `Cannot send signal ${signal} to pid ${pid}: errno ${err}`);
}

/** settimeofday(2) from seconds and microseconds since the epoch. */
export function setTimeOfDay(sec: bigint, usec: bigint): void {
  const tv = new Uint8Array(16);
  const v = new DataView(tv.buffer);
  v.setBigInt64(0, sec, true);
  v.setBigInt64(8, usec, true);
  check(libc().settimeofday(tv, null), "set the clock (settimeofday)");
}

/** sethostname(2). */
export function setHostname(name: string): void {
  const b = new TextEncoder().encode(name);
  check(libc().sethostname(b, BigInt(b.length)), `set the hostname to "${name}" (sethostname)`);
}

/** ioctl RNDADDENTROPY: _IOW('R', 0x03, int[2]). */
const RNDADDENTROPY = 0x40085203n;
/** ioctl RNDRESEEDCRNG: _IO('R', 0x07). */
const RNDRESEEDCRNG = 0x5207n;

/**
 * Mixes `data` into the kernel's input pool crediting 8 bits per byte (RNDADDENTROPY on
 * /dev/random), then forces the CRNG to reseed from it (RNDRESEEDCRNG). Needs CAP_SYS_ADMIN.
 */
export function reseedRandom(data: Uint8Array): void {
  const info = new Uint8Array(8 + data.length);
  const v = new DataView(info.buffer);
  v.setInt32(0, data.length * 8, true); // entropy_count, bits
  v.setInt32(4, data.length, true); // buf_size, bytes
  info.set(data, 8);
  const fd = check(libc().open(cString("/dev/random"), 0o2 | 0o2000000, 0), 'open "/dev/random"');
  try {
    check(libc().ioctl(fd, RNDADDENTROPY, info), "add entropy (ioctl RNDADDENTROPY)");
    check(libc().ioctl(fd, RNDRESEEDCRNG, new Uint8Array(8)), "reseed the CRNG (ioctl RNDRESEEDCRNG)");
  } finally {
    libc().close(fd);
  }
}
