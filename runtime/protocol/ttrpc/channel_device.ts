/**
 * A duplex over a character device such as a virtio-serial port (`/dev/vport*` in the guest).
 *
 * Why not `Deno.open`: Deno queues all operations on one `FsFile`, so a pending `read()` on a
 * device blocks every `write()` on the same handle until data arrives (full duplex deadlocks), and
 * a virtio-serial port cannot be opened twice (EBUSY). So the device is opened once through libc,
 * and reads and writes run as nonblocking FFI calls on separate worker threads. Needs `--allow-ffi`.
 *
 * @module
 */
import { ProtocolError } from "../../errors.ts";
import type { Duplex } from "./duplex.ts";

const O_RDWR = 0o2;
const O_NOCTTY = 0o400;
const O_CLOEXEC = 0o2000000;
const SMALL = 4096;

const SYMBOLS = {
  open: { parameters: ["buffer", "i32", "i32"], result: "i32", nonblocking: true },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize", nonblocking: true },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize", nonblocking: true },
  close: { parameters: ["i32"], result: "i32" },
} as const;

/** Options of {@link openDeviceDuplex}. */
export interface DeviceDuplexOptions {
  /** The C library to load (default `libc.so.6`). */
  libc?: string;
}

/**
 * Opens `path` read-write as a full-duplex byte stream. After `close()`, a read still blocked in
 * the kernel finishes only when the device delivers data or hangs up; its result is dropped.
 */
export async function openDeviceDuplex(path: string, opts: DeviceDuplexOptions = {}): Promise<Duplex> {
  let lib: Deno.DynamicLibrary<typeof SYMBOLS>;
  try {
    lib = Deno.dlopen(opts.libc ?? "libc.so.6", SYMBOLS);
  } catch (e) {
    throw new ProtocolError("Unavailable", `Cannot open device "${path}": cannot load libc: ${msg(e)}`, {
      cause: e,
    });
  }
  const fd = await lib.symbols.open(new TextEncoder().encode(`${path}\0`), O_RDWR | O_NOCTTY | O_CLOEXEC, 0);
  if (fd < 0) {
    lib.close();
    throw new ProtocolError("Unavailable", `Cannot open device "${path}": open(2) failed`);
  }
  let closed = false;
  const hangUp = Promise.withResolvers<number>();
  // FFI may only see memory that the GC does not move: tiny arrays live on the V8 heap, so small
  // writes go through an owned, off-heap scratch buffer (writes are serialised by the Channel).
  const scratch = new Uint8Array(64 * 1024);
  const readScratch = new Uint8Array(64 * 1024);
  const read = async (p: Uint8Array): Promise<number | null> => {
    if (closed) return null;
    const dst = p.buffer.byteLength <= SMALL
      ? readScratch.subarray(0, Math.min(p.length, readScratch.length))
      : p;
    // A read blocked in the kernel does not end on close(2): stop waiting for it on close.
    const n = Number(await Promise.race([lib.symbols.read(fd, dst, BigInt(dst.length)), hangUp.promise]));
    if (closed || n === 0) return null;
    if (n < 0) throw new ProtocolError("Unavailable", `Cannot read device "${path}": read(2) failed`);
    if (dst !== p) p.set(dst.subarray(0, n));
    return n;
  };
  const write = async (p: Uint8Array): Promise<number> => {
    if (closed) throw new ProtocolError("Unavailable", `Cannot write device "${path}": closed`);
    let src = p;
    if (p.buffer.byteLength <= SMALL) {
      src = scratch.subarray(0, Math.min(p.length, scratch.length));
      src.set(p.subarray(0, src.length));
    }
    const n = Number(await lib.symbols.write(fd, src, BigInt(src.length)));
    if (n < 0) throw new ProtocolError("Unavailable", `Cannot write device "${path}": write(2) failed`);
    return n;
  };
  const close = (): void => {
    if (closed) return;
    closed = true;
    hangUp.resolve(0);
    lib.symbols.close(fd);
  };
  return {
    read,
    write,
    close,
    get readable(): ReadableStream<Uint8Array> {
      return new ReadableStream<Uint8Array>({
        async pull(c) {
          const buf = new Uint8Array(64 * 1024);
          const n = await read(buf);
          if (n === null) c.close();
          else c.enqueue(buf.subarray(0, n));
        },
      });
    },
    get writable(): WritableStream<Uint8Array> {
      return new WritableStream<Uint8Array>({
        async write(chunk) {
          let off = 0;
          while (off < chunk.length) off += await write(chunk.subarray(off));
        },
      });
    },
  };
}

function msg(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
