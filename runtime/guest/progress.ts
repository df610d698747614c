/**
 * Progress displays for the image build: one line per step with the elapsed time, or a live line
 * rewritten in place when stderr is a terminal. Written to stderr directly (this is user output,
 * not a log record).
 *
 * @module
 */
import type { ProgressSink } from "./types.ts";

/** A progress sink writing to stderr (`live`: rewrite one line; default: when stderr is a TTY). */
export function stderrProgress(opts: { live?: boolean; now?: () => number } = {}): ProgressSink {
  const live = opts.live ?? Deno.stderr.isTerminal();
  return textProgress((s) => writeAll(s), { live, ...(opts.now ? { now: opts.now } : {}) });
}

/** A progress sink writing text through `write` (used by stderrProgress and tests). */
export function textProgress(
  write: (s: string) => void,
  opts: { live: boolean; now?: () => number },
): ProgressSink {
  const now = opts.now ?? (() => performance.now());
  const start = now();
  let current: string | null = null;
  let stepStart = start;
  const stamp = (t: number) => `[${((t - start) / 1000).toFixed(1).padStart(5)}s]`;
  const finish = () => {
    if (current === null) return;
    const t = now();
    const line = `${stamp(t)} ${current} (${((t - stepStart) / 1000).toFixed(1)}s)`;
    write(opts.live ? `\r\x1b[2K${line}\n` : `${line}\n`);
    current = null;
  };
  return {
    step(name) {
      finish();
      current = name;
      stepStart = now();
      if (opts.live) write(`\r\x1b[2K${stamp(stepStart)} ${name} ...`);
    },
    note(msg) {
      if (opts.live) write(`\r\x1b[2K${stamp(now())} ${current ?? ""}: ${msg}`);
      else write(`${stamp(now())}   ${msg}\n`);
    },
    done(msg) {
      finish();
      write(`${stamp(now())} ${msg}\n`);
    },
  };
}

/** Discards progress. */
export const silentProgress: ProgressSink = { step() {}, note() {}, done() {} };

function writeAll(s: string): void {
  const b = new TextEncoder().encode(s);
  let off = 0;
  while (off < b.length) off += Deno.stderr.writeSync(b.subarray(off));
}
