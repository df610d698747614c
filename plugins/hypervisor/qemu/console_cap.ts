/**
 * The console log is written by QEMU (a `file` chardev, appending) with whatever the guest prints:
 * guest root can print without end, and the log lives on /run (memory). While a VM runs, the
 * process that owns it checks the file every `intervalMs` and, past `maxBytes`, keeps its last
 * half: it reads the tail, truncates the file and writes the tail back (QEMU appends, so its next
 * write lands after it). Bytes QEMU writes during a trim may be lost: it is a debugging log.
 *
 * The 16550 UART the console is on moves well under 1 MB/s even under KVM, so with the default
 * interval (0.2 s) the file stays within `maxBytes` plus a fifth of that rate.
 *
 * @module
 */
import { readFileTail } from "../../../runtime/sys/file_tail.ts";

/** Trims `path` to its last `maxBytes / 2` bytes when it is larger than `maxBytes`. */
export async function trimOnce(path: string, maxBytes: number): Promise<boolean> {
  const size = await Deno.stat(path).then((s) => s.size, () => 0);
  if (size <= maxBytes) return false;
  const keep = await readFileTail(path, Math.floor(maxBytes / 2));
  const f = await Deno.open(path, { write: true });
  try {
    await f.truncate(0);
    let off = 0;
    while (off < keep.length) off += await f.write(keep.subarray(off));
  } finally {
    f.close();
  }
  return true;
}

/** Keeps a console log within its cap until stopped. */
export class ConsoleCap {
  readonly #path: string;
  readonly #maxBytes: number;
  readonly #intervalMs: number;
  #timer: ReturnType<typeof setInterval> | undefined;
  #busy = false;

  constructor(path: string, maxBytes: number, intervalMs = 200) {
    this.#path = path;
    this.#maxBytes = maxBytes;
    this.#intervalMs = intervalMs;
  }

  start(): void {
    if (this.#timer !== undefined) return;
    const timer = setInterval(() => {
      if (this.#busy) return;
      this.#busy = true;
      trimOnce(this.#path, this.#maxBytes).catch(() => {}).finally(() => this.#busy = false);
    }, this.#intervalMs);
    Deno.unrefTimer(timer);
    this.#timer = timer;
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
