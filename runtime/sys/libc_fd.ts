/**
 * The libc calls that Deno has no API for, through `Deno.dlopen`, shared by the host and the guest
 * agent: one lazy loader over one symbol table, `errno`, non-blocking fd I/O and `poll`, and window
 * sizes (`TIOCGWINSZ`/`TIOCSWINSZ`). The OCI front door adds a pty pair (`posix_openpt`,
 * `grantpt`, `unlockpt`, `ptsname_r`, `open(O_NOCTTY)`), raw mode (`tcgetattr`/`cfmakeraw`/
 * `tcsetattr`) and a unix stream socket that sends one fd with SCM_RIGHTS (`--console-socket`);
 * the agent's own calls (subreaper, `waitpid`, receiving an fd, clock, hostname) live in
 * `agent/sys/libc.ts` on the same loader. x86_64 / aarch64 Linux (LP64) struct layouts.
 *
 * Every call is synchronous on the JS thread except `poll`, which runs on a blocking thread with a
 * bounded timeout so that nothing is left parked in a thread when a handle closes. Every buffer
 * handed to libc here is backed by its own `ArrayBuffer` (off the V8 heap), so the garbage
 * collector never moves it while a call (or the `poll` thread) uses it.
 *
 * @module
 */
import { RuntimeError } from "../errors.ts";

const SYMBOLS = {
  __errno_location: { parameters: [], result: "pointer" },
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  connect: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  sendmsg: { parameters: ["i32", "buffer", "i32"], result: "isize" },
  close: { parameters: ["i32"], result: "i32" },
  posix_openpt: { parameters: ["i32"], result: "i32" },
  grantpt: { parameters: ["i32"], result: "i32" },
  unlockpt: { parameters: ["i32"], result: "i32" },
  ptsname_r: { parameters: ["i32", "buffer", "usize"], result: "i32" },
  open: { parameters: ["buffer", "i32", "i32"], result: "i32" },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  fcntl: { parameters: ["i32", "i32", "i64"], result: "i32" },
  ioctl: { parameters: ["i32", "u64", "buffer"], result: "i32" },
  tcgetattr: { parameters: ["i32", "buffer"], result: "i32" },
  tcsetattr: { parameters: ["i32", "i32", "buffer"], result: "i32" },
  cfmakeraw: { parameters: ["buffer"], result: "void" },
  poll: { parameters: ["buffer", "u64", "i32"], result: "i32", nonblocking: true },
  // The agent's own calls (agent/sys/libc.ts).
  prctl: { parameters: ["i32", "u64", "u64", "u64", "u64"], result: "i32" },
  waitpid: { parameters: ["i32", "buffer", "i32"], result: "i32" },
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  listen: { parameters: ["i32", "i32"], result: "i32" },
  accept4: { parameters: ["i32", "pointer", "pointer", "i32"], result: "i32" },
  recvmsg: { parameters: ["i32", "buffer", "i32"], result: "isize" },
  settimeofday: { parameters: ["buffer", "pointer"], result: "i32" },
  kill: { parameters: ["i32", "i32"], result: "i32" },
  sethostname: { parameters: ["buffer", "usize"], result: "i32" },
} as const;

type Libc = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];
let lib: Libc | undefined;

/** The libc symbols, loaded on first use. @throws Unavailable when FFI or libc is not there. */
export function libc(): Libc {
  if (lib === undefined) {
    try {
      lib = Deno.dlopen("libc.so.6", SYMBOLS).symbols;
    } catch (e) {
      throw new RuntimeError("Unavailable", `Cannot load "libc.so.6" through FFI: ${String(e)}`, {
        cause: e,
      });
    }
  }
  return lib;
}

export const EAGAIN = 11;
export const EINTR = 4;
export const EIO = 5;

/** A zeroed byte buffer with its own off-heap backing store. */
export function offHeap(n: number): Uint8Array {
  return new Uint8Array(new ArrayBuffer(n));
}

/** errno of the last failed synchronous call (read right after the call, on the same thread). */
export function errno(): number {
  const p = libc().__errno_location();
  return p === null ? 0 : new Deno.UnsafePointerView(p).getInt32();
}

/** `ret` as a number. @throws Internal "Cannot <what>: errno N" when it is negative. */
export function check(ret: number | bigint, what: string): number {
  const n = Number(ret);
  if (n < 0) throw new RuntimeError("Internal", `Cannot ${what}: errno ${errno()}`);
  return n;
}

/** `s` as a NUL-terminated, off-heap C string. */
export function cString(s: string): Uint8Array {
  const enc = new TextEncoder().encode(s);
  const b = offHeap(enc.length + 1);
  b.set(enc);
  return b;
}

function ptr(b: Uint8Array): bigint {
  return BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(b)));
}

// Unix socket + SCM_RIGHTS ----------------------------------------------------------------------

/** A `sockaddr_un` for `path`. Pure. @throws InvalidArgument when the path does not fit. */
export function sockaddrUn(path: string): Uint8Array {
  const enc = new TextEncoder().encode(path);
  if (enc.length === 0 || enc.length >= 108) {
    throw new RuntimeError(
      "InvalidArgument",
      `Invalid unix socket path "${path}": it must be 1 to 107 bytes long`,
    );
  }
  const sa = offHeap(110);
  new DataView(sa.buffer).setUint16(0, 1, /* AF_UNIX */ true);
  sa.set(enc, 2);
  return sa;
}

/**
 * An off-heap `msghdr` (no name) with one iovec over `data` and the control buffer `control`. The
 * iovec sits in the same buffer, right after the 56-byte header, so it lives as long as the header;
 * `msg_controllen` (offset 40) holds what `recvmsg` filled in.
 */
export function msgHdr(data: Uint8Array, control: Uint8Array): Uint8Array {
  const msg = offHeap(56 + 16);
  const v = new DataView(msg.buffer);
  v.setBigUint64(16, ptr(msg) + 56n, true);
  v.setBigUint64(24, 1n, true);
  v.setBigUint64(32, ptr(control), true);
  v.setBigUint64(40, BigInt(control.length), true);
  v.setBigUint64(56, ptr(data), true);
  v.setBigUint64(64, BigInt(data.length), true);
  return msg;
}

/** Connects a blocking, close-on-exec unix stream socket to `path`; returns its fd. */
export function connectUnix(path: string): number {
  const sa = sockaddrUn(path);
  const c = libc();
  const fd = check(
    c.socket(1, /* AF_UNIX */ 1 /* SOCK_STREAM */ | 0o2000000, 0),
    `create a socket for "${path}"`,
  );
  if (c.connect(fd, sa, 2 + new TextEncoder().encode(path).length + 1) < 0) {
    const err = errno();
    c.close(fd);
    const code = err === 2 /* ENOENT */
      ? "NotFound"
      : err === 111 /* ECONNREFUSED */
      ? "Unavailable"
      : "Internal";
    throw new RuntimeError(code, `Cannot connect to console socket "${path}": errno ${err}`);
  }
  return fd;
}

/**
 * The control buffer of a message carrying `fds` as SCM_RIGHTS: `cmsghdr{len, SOL_SOCKET,
 * SCM_RIGHTS}` followed by the fds, padded to 8 bytes. Pure.
 */
function rightsControl(fds: readonly number[]): Uint8Array {
  const len = 16 + 4 * fds.length;
  const buf = offHeap((len + 7) & ~7);
  const v = new DataView(buf.buffer);
  v.setBigUint64(0, BigInt(len), true);
  v.setInt32(8, 1, /* SOL_SOCKET */ true);
  v.setInt32(12, 1, /* SCM_RIGHTS */ true);
  fds.forEach((fd, i) => v.setInt32(16 + 4 * i, fd, true));
  return buf;
}

/** Sends `data` with `fd` attached (SCM_RIGHTS) on the connected socket `sock`. */
export function sendFd(sock: number, fd: number, data: Uint8Array): void {
  const payload = offHeap(Math.max(1, data.length));
  payload.set(data);
  const control = rightsControl([fd]);
  const msg = msgHdr(payload, control);
  for (;;) {
    const r = Number(libc().sendmsg(sock, msg, 0x4000 /* MSG_NOSIGNAL */));
    if (r >= 0) return;
    const err = errno();
    if (err !== EINTR) {
      throw new RuntimeError("Internal", `Cannot send fd ${fd} over socket fd ${sock}: errno ${err}`);
    }
  }
}

// Pseudo-terminals ------------------------------------------------------------------------------

export interface PtyPair {
  readonly master: number;
  readonly slave: number;
  /** `/dev/pts/N`. */
  readonly name: string;
}

/** Opens a new pty pair (both ends close-on-exec, the slave without becoming a controlling tty). */
export function openPty(): PtyPair {
  const c = libc();
  const O_RDWR = 0o2, O_NOCTTY = 0o400, O_CLOEXEC = 0o2000000;
  const master = check(c.posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC), "open a pty master (posix_openpt)");
  try {
    check(c.grantpt(master), "grant the pty (grantpt)");
    check(c.unlockpt(master), "unlock the pty (unlockpt)");
    const nameBuf = offHeap(128);
    const r = c.ptsname_r(master, nameBuf, 128n);
    if (r !== 0) throw new RuntimeError("Internal", `Cannot name the pty (ptsname_r): error ${r}`);
    const name = new TextDecoder().decode(nameBuf.subarray(0, nameBuf.indexOf(0)));
    const slave = check(c.open(cString(name), O_RDWR | O_NOCTTY | O_CLOEXEC, 0), `open pty slave "${name}"`);
    return { master, slave, name };
  } catch (e) {
    c.close(master);
    throw e;
  }
}

/** Puts a terminal fd in raw mode (no echo, no line editing, no signal keys, no output mangling). */
export function makeRaw(fd: number): void {
  const t = offHeap(64);
  check(libc().tcgetattr(fd, t), `read terminal settings of fd ${fd}`);
  libc().cfmakeraw(t);
  check(libc().tcsetattr(fd, 0, /* TCSANOW */ t), `set raw mode on fd ${fd}`);
}

/**
 * Puts the terminal on `fd` in raw mode (cfmakeraw: output post-processing off too, unlike Deno's
 * setRaw) and returns a function that restores the previous settings.
 */
export function rawTerminal(fd: number): () => void {
  const saved = offHeap(64);
  check(libc().tcgetattr(fd, saved), `read terminal settings of fd ${fd}`);
  makeRaw(fd);
  return () => void libc().tcsetattr(fd, 0, /* TCSANOW */ saved);
}

export interface WindowSize {
  readonly rows: number;
  readonly cols: number;
}

/** ioctl(TIOCGWINSZ): reads a terminal's window size. */
export function getWindowSize(fd: number): WindowSize {
  const ws = offHeap(8);
  check(libc().ioctl(fd, 0x5413n, ws), `read the window size of fd ${fd}`);
  const v = new DataView(ws.buffer);
  return { rows: v.getUint16(0, true), cols: v.getUint16(2, true) };
}

/** ioctl(TIOCSWINSZ): sets a terminal's window size. */
export function setWindowSize(fd: number, size: WindowSize): void {
  const ws = offHeap(8);
  const v = new DataView(ws.buffer);
  v.setUint16(0, size.rows, true);
  v.setUint16(2, size.cols, true);
  check(libc().ioctl(fd, 0x5414n, ws), `set the window size of fd ${fd}`);
}

// Raw fd I/O ------------------------------------------------------------------------------------

/** Sets O_NONBLOCK on an fd. */
export function setNonBlocking(fd: number): void {
  const c = libc();
  const flags = check(c.fcntl(fd, 3, /* F_GETFL */ 0n), `read the flags of fd ${fd}`);
  check(c.fcntl(fd, 4, /* F_SETFL */ BigInt(flags | 0o4000)), `set O_NONBLOCK on fd ${fd}`);
}

/** Result of a raw read/write: bytes done, "again" (would block), or an errno. */
export type IoResult =
  | { readonly kind: "ok"; readonly n: number }
  | { readonly kind: "again" }
  | { readonly kind: "error"; readonly errno: number };

function ioResult(r: number | bigint): IoResult {
  const n = Number(r);
  if (n >= 0) return { kind: "ok", n };
  const err = errno();
  return err === EAGAIN || err === EINTR ? { kind: "again" } : { kind: "error", errno: err };
}

/** read(2) into an off-heap buffer (see {@link offHeap}). */
export function readFd(fd: number, buf: Uint8Array): IoResult {
  return ioResult(libc().read(fd, buf, BigInt(buf.length)));
}

/** write(2) from an off-heap buffer. */
export function writeFd(fd: number, buf: Uint8Array): IoResult {
  return ioResult(libc().write(fd, buf, BigInt(buf.length)));
}

/** Waits (on a blocking thread, at most `timeoutMs`) until `fd` is readable (`"in"`) or writable. */
export async function pollFd(fd: number, dir: "in" | "out", timeoutMs: number): Promise<void> {
  const pfd = offHeap(8);
  const v = new DataView(pfd.buffer);
  v.setInt32(0, fd, true);
  v.setInt16(4, dir === "in" ? 0x1 : 0x4, true);
  await libc().poll(pfd, 1n, timeoutMs);
}

/** poll(2) bits. */
export const POLLIN = 0x1, POLLOUT = 0x4, POLLERR = 0x8, POLLHUP = 0x10;

/** Like {@link pollFd}, and says what happened (0 on timeout). */
export async function pollEvents(fd: number, events: number, timeoutMs: number): Promise<number> {
  const pfd = offHeap(8);
  const v = new DataView(pfd.buffer);
  v.setInt32(0, fd, true);
  v.setInt16(4, events, true);
  const n = await libc().poll(pfd, 1n, timeoutMs);
  return n > 0 ? v.getInt16(6, true) : 0;
}

/**
 * open(2) of a FIFO without ever blocking a thread: `O_NONBLOCK | O_CLOEXEC`. A reader opens at
 * once, writer or not; a writer gets null (ENXIO) while nobody reads.
 */
export function openFifo(path: string, mode: "read" | "write"): number | null {
  const O_WRONLY = 0o1, O_NONBLOCK = 0o4000, O_CLOEXEC = 0o2000000, ENXIO = 6;
  const fd = libc().open(cString(path), (mode === "write" ? O_WRONLY : 0) | O_NONBLOCK | O_CLOEXEC, 0);
  if (fd >= 0) return fd;
  const err = errno();
  if (mode === "write" && err === ENXIO) return null;
  throw new RuntimeError(err === 2 ? "NotFound" : "Internal", `Cannot open FIFO "${path}": errno ${err}`);
}

export function closeFd(fd: number): void {
  libc().close(fd);
}

/**
 * Marks every open fd from 3 up close-on-exec. Deno's own fds are, but sockets that node:net
 * creates (the gRPC Controller's listener, its connections) are not, so a VMM or virtiofsd spawned
 * later inherited them: QEMU kept the Controller's listening socket, and clients queued on it after
 * the daemon died. Call it right before spawning a long-lived child. Best effort: without FFI
 * permission it does nothing.
 */
export function closeOnExec(): void {
  let c: Libc;
  try {
    c = libc();
  } catch {
    return;
  }
  let names: string[];
  try {
    names = [...Deno.readDirSync("/proc/self/fd")].map((e) => e.name);
  } catch {
    return;
  }
  for (const name of names) {
    const fd = Number(name);
    if (!Number.isInteger(fd) || fd < 3) continue;
    const flags = c.fcntl(fd, 1, /* F_GETFD */ 0n);
    if (flags >= 0 && (flags & 1) === 0) c.fcntl(fd, 2, /* F_SETFD */ BigInt(flags | 1 /* FD_CLOEXEC */));
  }
}
