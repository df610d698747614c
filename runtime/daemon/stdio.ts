/**
 * Stdio of a task as containerd hands it over: FIFO paths (stdout/stderr opened for writing
 * without waiting: nobody reading means the output is drained; stdin read as its writer comes and
 * goes; never a thread parked in open(2): runtime/sys/fifo.ts),
 * `file://` log paths (stdout and stderr appended to one file), or "" (output drained). With a
 * terminal stderr is "" and the pty's output arrives on stdout.
 *
 * @module
 */
import { RuntimeError } from "../errors.ts";
import { type FifoReader, readFifo, writeFifo } from "../sys/fifo.ts";
import type { Logger } from "../log/logger.ts";

export interface TaskStdio {
  readonly stdin: string;
  readonly stdout: string;
  readonly stderr: string;
  readonly terminal: boolean;
}

/** @throws {RuntimeError} `InvalidArgument` for an unknown scheme. */
export function checkStdio(s: TaskStdio, what: string): void {
  for (const p of [s.stdin, s.stdout, s.stderr]) {
    if (p === "" || p.startsWith("/") || p.startsWith("file://")) continue;
    if (p.startsWith("binary://")) continue;
    throw new RuntimeError(
      "InvalidArgument",
      `Cannot set up stdio of ${what}: unknown stdio "${p.slice(0, 80)}"`,
    );
  }
}

function filePathOf(uri: string): string {
  return decodeURIComponent(new URL(uri).pathname);
}

interface Sink {
  write(b: Uint8Array): Promise<void>;
  close(): void;
}

async function openSink(path: string, log: Logger, given?: Deno.FsFile): Promise<Sink | null> {
  if (path === "" && given === undefined) return null;
  let f: Deno.FsFile;
  if (given !== undefined) {
    f = given;
  } else if (path.startsWith("file://")) {
    const p = filePathOf(path);
    await Deno.mkdir(p.slice(0, p.lastIndexOf("/")) || "/", { recursive: true });
    f = await Deno.open(p, { write: true, create: true, append: true, mode: 0o640 });
  } else {
    const fifo = writeFifo(path);
    if (fifo === null) {
      log.debug("nobody reads the stdio FIFO: its output is drained", { path });
      return null;
    }
    const w = fifo.writable.getWriter();
    let broken = false;
    return {
      async write(b) {
        if (broken) return;
        await w.write(b).catch((e) => {
          broken = true; // the reader went away: keep draining
          log.debug("stdio reader gone", { path, error: e instanceof Error ? e.message : String(e) });
        });
      },
      close() {
        fifo.close();
      },
    };
  }
  let broken = false;
  return {
    async write(b) {
      if (broken) return;
      try {
        let off = 0;
        while (off < b.length) off += await f.write(b.subarray(off));
      } catch (e) {
        broken = true; // the reader went away: keep draining
        log.debug("stdio reader gone", { path, error: e instanceof Error ? e.message : String(e) });
      }
    },
    close() {
      try {
        f.close();
      } catch { /* closed */ }
    },
  };
}

async function pump(src: ReadableStream<Uint8Array>, sink: Sink | null): Promise<void> {
  try {
    for await (const chunk of src) await sink?.write(chunk);
  } finally {
    sink?.close();
  }
}

/**
 * Copies a process's stdout/stderr streams into the task's stdio. Resolves when both ended (the
 * process exited and its output was drained). `file://` stdout and stderr share one file.
 */
export async function copyOutput(
  s: TaskStdio,
  streams: { readonly stdout: ReadableStream<Uint8Array>; readonly stderr: ReadableStream<Uint8Array> },
  log: Logger,
  files: { readonly stdout: Deno.FsFile; readonly stderr: Deno.FsFile } | undefined = undefined,
): Promise<void> {
  if (files !== undefined) {
    await Promise.allSettled([
      pump(streams.stdout, await openSink("", log, files.stdout)),
      pump(streams.stderr, await openSink("", log, files.stderr)),
    ]);
    return;
  }
  const out = await openSink(s.stdout, log);
  const err = s.stderr !== "" && s.stderr === s.stdout ? out : await openSink(s.stderr, log);
  const shared = err !== null && err === out;
  const errSink: Sink | null = shared && err !== null ? { write: (b) => err.write(b), close: () => {} } : err;
  const results = await Promise.allSettled([pump(streams.stdout, out), pump(streams.stderr, errSink)]);
  for (const r of results) {
    if (r.status === "rejected") log.debug("output copy ended with an error", { error: String(r.reason) });
  }
}

/** A running stdin copy. */
export interface StdinCopy {
  /** Resolves when the FIFO reached EOF and the process's stdin was closed. */
  readonly done: Promise<void>;
  /** Stops waiting for a writer (unblocks a pending open) and closes the process's stdin. */
  abandon(): Promise<void>;
}

/** Copies the stdin FIFO into `sink` until EOF, then closes `sink`. */
export function copyStdin(path: string, sink: WritableStream<Uint8Array>, log: Logger): StdinCopy {
  const w = sink.getWriter();
  let closed = false;
  const closeSink = async () => {
    if (closed) return;
    closed = true;
    await w.close().catch((e) => log.debug("closing stdin failed", { error: String(e) }));
  };
  let fifo: FifoReader | undefined;
  const done = (async () => {
    try {
      fifo = readFifo(path);
      for await (const chunk of fifo.readable) {
        if (closed) break;
        await w.write(chunk);
      }
    } catch (e) {
      log.debug("stdin copy ended", { path, error: e instanceof Error ? e.message : String(e) });
    } finally {
      await closeSink();
    }
  })();
  return {
    done,
    async abandon() {
      // stops the reader (it never waits in open(2)), then closes the process's stdin
      fifo?.close();
      await Promise.race([done, new Promise((r) => setTimeout(r, 300))]);
      await closeSink();
    },
  };
}
