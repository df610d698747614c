/**
 * The caller's side of `--console-socket` for tests (what conmon and containerd's shim do): a unix
 * socket that receives one fd over SCM_RIGHTS, and raw reads/writes on the pty master it gets.
 * Independent of runtime/sys (its own FFI), so the tests check the sending side against it.
 *
 * @module
 */
const lib = Deno.dlopen("libc.so.6", {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  listen: { parameters: ["i32", "i32"], result: "i32" },
  accept: { parameters: ["i32", "pointer", "pointer"], result: "i32" },
  recvmsg: { parameters: ["i32", "buffer", "i32"], result: "isize" },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  close: { parameters: ["i32"], result: "i32" },
  ioctl: { parameters: ["i32", "u64", "buffer"], result: "i32" },
  poll: { parameters: ["buffer", "u64", "i32"], result: "i32" },
}).symbols;

const heap = (n: number) => new Uint8Array(new ArrayBuffer(n));
const addr = (b: Uint8Array) => BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(b)));

export function listenConsoleSocket(path: string): number {
  const fd = lib.socket(1, 1, 0);
  const sa = heap(110);
  new DataView(sa.buffer).setUint16(0, 1, true);
  sa.set(new TextEncoder().encode(path), 2);
  if (lib.bind(fd, sa, 110) !== 0 || lib.listen(fd, 4) !== 0) throw new Error(`cannot listen on ${path}`);
  return fd;
}

/** Waits (up to `ms`) for a connection and returns the fd it carries and the message text. */
export function receiveFd(listener: number, ms = 10_000): { fd: number; name: string } {
  const pfd = heap(8);
  const v = new DataView(pfd.buffer);
  v.setInt32(0, listener, true);
  v.setInt16(4, 1, true);
  if (lib.poll(pfd, 1n, ms) !== 1) throw new Error("no console connection");
  const conn = lib.accept(listener, null, null);
  try {
    const data = heap(256);
    const iov = heap(16);
    new DataView(iov.buffer).setBigUint64(0, addr(data), true);
    new DataView(iov.buffer).setBigUint64(8, 256n, true);
    const control = heap(64);
    const msg = heap(56);
    const mv = new DataView(msg.buffer);
    mv.setBigUint64(16, addr(iov), true);
    mv.setBigUint64(24, 1n, true);
    mv.setBigUint64(32, addr(control), true);
    mv.setBigUint64(40, 64n, true);
    const n = Number(lib.recvmsg(conn, msg, 0));
    if (n < 0) throw new Error("recvmsg failed");
    const cv = new DataView(control.buffer);
    if (cv.getInt32(8, true) !== 1 || cv.getInt32(12, true) !== 1) throw new Error("no SCM_RIGHTS message");
    return { fd: cv.getInt32(16, true), name: new TextDecoder().decode(data.subarray(0, n)) };
  } finally {
    lib.close(conn);
  }
}

/** Reads what is available on `fd` within `ms` (at least one read when readable). */
export function readSome(fd: number, ms: number): string {
  const pfd = heap(8);
  const v = new DataView(pfd.buffer);
  v.setInt32(0, fd, true);
  v.setInt16(4, 1, true);
  if (lib.poll(pfd, 1n, ms) !== 1) return "";
  const buf = heap(4096);
  const n = Number(lib.read(fd, buf, 4096n));
  return n > 0 ? new TextDecoder().decode(buf.subarray(0, n)) : "";
}

export function writeAll(fd: number, text: string): void {
  const b = new TextEncoder().encode(text);
  const buf = heap(b.length);
  buf.set(b);
  if (Number(lib.write(fd, buf, BigInt(b.length))) !== b.length) throw new Error("short write");
}

export function setSize(fd: number, rows: number, cols: number): void {
  const ws = heap(8);
  new DataView(ws.buffer).setUint16(0, rows, true);
  new DataView(ws.buffer).setUint16(2, cols, true);
  if (lib.ioctl(fd, 0x5414n, ws) !== 0) throw new Error("TIOCSWINSZ failed");
}

export function closeFd(fd: number): void {
  lib.close(fd);
}
