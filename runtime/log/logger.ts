/**
 * JSON-lines logging: `{ ts, level, subsystem, msg, ...fields }` one object per line, to stderr by
 * default or to a file (`--log`). Child loggers add fixed fields (`subsystem`, `sandbox`, ...).
 * `limited` is rate-limited per call site, for anything the guest can trigger.
 *
 * Why not @logtape/logtape: its record model and sinks fit, but every call site here needs
 * synchronous writes (a shim or holder may exit right after logging) and a per-callsite rate limiter
 * with suppression counts; both are ~100 lines on top of Deno's sync file API, so the logger is ours.
 *
 * @module
 */
import { RateLimiter } from "./rate_limit.ts";

export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFields = Readonly<Record<string, unknown>>;

const LEVELS: Readonly<Record<LogLevel, number>> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Where log lines go. */
export interface LogSink {
  write(line: string): void;
}

export interface LogMethods {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

export interface Logger extends LogMethods {
  /** A logger that adds `fields` to every line. */
  child(fields: LogFields): Logger;
  /** Rate-limited methods (per call site): use for anything the guest or a peer can trigger. */
  readonly limited: LogMethods;
  readonly level: LogLevel;
}

/** Writes to stderr synchronously. */
export function stderrSink(): LogSink {
  const enc = new TextEncoder();
  return { write: (line) => writeAllSync(Deno.stderr, enc.encode(line)) };
}

/** Appends to a file synchronously (the file is opened once). */
export function fileSink(path: string): LogSink {
  const file = Deno.openSync(path, { append: true, create: true, mode: 0o640 });
  const enc = new TextEncoder();
  return { write: (line) => writeAllSync(file, enc.encode(line)) };
}

/** Collects lines in memory, for tests. */
export function memorySink(): LogSink & { readonly lines: string[] } {
  const lines: string[] = [];
  return { lines, write: (line) => void lines.push(line) };
}

/** Discards everything. */
export const nullSink: LogSink = { write: () => {} };

function writeAllSync(w: { writeSync(p: Uint8Array): number }, data: Uint8Array): void {
  let off = 0;
  while (off < data.length) off += w.writeSync(data.subarray(off));
}

export interface LoggerOptions {
  level?: LogLevel;
  sink?: LogSink;
  fields?: LogFields;
  /** Messages per call site per window for `limited` (default 10 per 5 s). */
  rate?: { perWindow: number; windowMs: number };
  now?: () => number;
}

/** Creates a root logger. */
export function createLogger(opts: LoggerOptions = {}): Logger {
  const level = opts.level ?? "info";
  const sink = opts.sink ?? stderrSink();
  const now = opts.now ?? Date.now;
  const limiter = new RateLimiter(opts.rate?.perWindow ?? 10, opts.rate?.windowMs ?? 5000, now);
  return make(opts.fields ?? {});

  function make(base: LogFields): Logger {
    const emit = (lvl: LogLevel, msg: string, fields?: LogFields): void => {
      if (LEVELS[lvl] < LEVELS[level]) return;
      const rec: Record<string, unknown> = { ts: new Date(now()).toISOString(), level: lvl, ...base, msg };
      if (fields) { for (const [k, v] of Object.entries(fields)) rec[k] = serialise(v); }
      sink.write(JSON.stringify(rec) + "\n");
    };
    const limitedEmit = (lvl: LogLevel, msg: string, fields?: LogFields): void => {
      const site = `${lvl}:${String(base["subsystem"] ?? "")}:${msg}`;
      const verdict = limiter.take(site);
      if (!verdict.allowed) return;
      emit(lvl, msg, verdict.suppressed > 0 ? { ...fields, suppressed: verdict.suppressed } : fields);
    };
    return {
      level,
      debug: (m, f) => emit("debug", m, f),
      info: (m, f) => emit("info", m, f),
      warn: (m, f) => emit("warn", m, f),
      error: (m, f) => emit("error", m, f),
      child: (fields) => make({ ...base, ...fields }),
      limited: {
        debug: (m, f) => limitedEmit("debug", m, f),
        info: (m, f) => limitedEmit("info", m, f),
        warn: (m, f) => limitedEmit("warn", m, f),
        error: (m, f) => limitedEmit("error", m, f),
      },
    };
  }
}

function serialise(v: unknown): unknown {
  if (v instanceof Error) {
    const out: Record<string, unknown> = { name: v.name, message: v.message };
    const code = (v as { code?: unknown }).code;
    if (code !== undefined) out["code"] = code;
    if (v.cause !== undefined) out["cause"] = serialise(v.cause);
    return out;
  }
  if (typeof v === "bigint") return v.toString();
  return v;
}

let rootLogger: Logger = createLogger({ sink: nullSink });

/** The process-wide root logger, set once by the entry point (`main.ts`, `agent/main.ts`). */
export function rootLog(): Logger {
  return rootLogger;
}

/** Replaces the root logger (entry points only). */
export function setRootLog(l: Logger): void {
  rootLogger = l;
}
