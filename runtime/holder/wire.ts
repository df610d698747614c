/**
 * The holder's control protocol, on a unix stream socket in the container's OCI state directory.
 *
 * A connection carries one request: a JSON line from the client, one JSON line back
 * (`{"ok":true,"result":...}` or `{"ok":false,"code":"NotFound","message":"..."}`). After a
 * successful `exec`, the same connection carries the process's stdio as binary frames, each
 * `[type u8][length u32 BE][payload]`: the client sends STDIN, STDIN_CLOSE and RESIZE
 * (`{"rows":R,"cols":C}`), the holder sends STDOUT, STDERR and finally EXIT (`{"status":N}`).
 *
 * Everything here is pure: validation of what comes off the socket and frame encoding.
 *
 * @module
 */
import { ERROR_CODES, type ErrorCode, RuntimeError } from "../errors.ts";
import { isRecord } from "../sys/files.ts";

/** Exit status for a container that never ran or whose VM vanished (SIGKILL, like runc). */
export const KILLED_STATUS = 137;

export type HolderRequest =
  | { readonly op: "ping" }
  | { readonly op: "start" }
  | { readonly op: "kill"; readonly signal: number; readonly all: boolean; readonly execId?: string }
  | { readonly op: "pause" }
  | { readonly op: "resume" }
  | { readonly op: "ps" }
  | { readonly op: "stats" }
  | { readonly op: "update"; readonly resources: Readonly<Record<string, unknown>> }
  | { readonly op: "delete"; readonly force: boolean }
  | {
    readonly op: "exec";
    readonly execId: string;
    /** The OCI process object (validated again by the holder). */
    readonly process: Readonly<Record<string, unknown>>;
  };

export type HolderResponse =
  | { readonly ok: true; readonly result: unknown }
  | { readonly ok: false; readonly code: ErrorCode; readonly message: string };

export const FRAME = { stdin: 0, stdinClose: 1, resize: 2, stdout: 3, stderr: 4, exit: 5 } as const;
export type FrameType = (typeof FRAME)[keyof typeof FRAME];
export const MAX_FRAME = 1 << 20;
const MAX_LINE = 4 << 20;

function bad(what: string): RuntimeError {
  return new RuntimeError("InvalidArgument", `Invalid holder request: ${what}`);
}

/** Validates a parsed request line. @throws InvalidArgument */
export function parseRequest(x: unknown): HolderRequest {
  if (!isRecord(x) || typeof x["op"] !== "string") throw bad('expected an object with "op"');
  const op = x["op"];
  switch (op) {
    case "ping":
    case "start":
    case "pause":
    case "resume":
    case "ps":
    case "stats":
      return { op };
    case "kill": {
      const s = x["signal"];
      if (typeof s !== "number" || !Number.isInteger(s) || s < 1 || s > 64) {
        throw bad('"signal" must be 1-64');
      }
      const e = x["execId"];
      if (e !== undefined && typeof e !== "string") throw bad('"execId" must be a string');
      return { op, signal: s, all: x["all"] === true, ...(e !== undefined ? { execId: e } : {}) };
    }
    case "update": {
      const r = x["resources"];
      if (!isRecord(r)) throw bad('"resources" must be an object');
      return { op, resources: r };
    }
    case "delete":
      return { op, force: x["force"] === true };
    case "exec": {
      const e = x["execId"];
      const p = x["process"];
      if (typeof e !== "string" || e === "") throw bad('"execId" must be a non-empty string');
      if (!isRecord(p)) throw bad('"process" must be an object');
      return { op, execId: e, process: p };
    }
    default:
      throw bad(`unknown op "${op.slice(0, 20)}"`);
  }
}

/** Validates a parsed response line. */
export function parseResponse(x: unknown): HolderResponse {
  if (!isRecord(x) || typeof x["ok"] !== "boolean") {
    throw new RuntimeError("Internal", 'Invalid holder response: expected an object with "ok"');
  }
  if (x["ok"]) return { ok: true, result: x["result"] };
  const code = x["code"];
  const message = x["message"];
  return {
    ok: false,
    code: typeof code === "string" && (ERROR_CODES as readonly string[]).includes(code)
      ? ERROR_CODES[(ERROR_CODES as readonly string[]).indexOf(code)]!
      : "Unknown",
    message: typeof message === "string" ? message : "the holder failed",
  };
}

/** Encodes a frame. Pure. */
export function encodeFrame(type: FrameType, payload: Uint8Array = new Uint8Array()): Uint8Array {
  if (payload.length > MAX_FRAME) {
    throw new RuntimeError(
      "InvalidArgument",
      `Cannot send a frame of ${payload.length} bytes: limit is ${MAX_FRAME}`,
    );
  }
  const out = new Uint8Array(5 + payload.length);
  out[0] = type;
  new DataView(out.buffer).setUint32(1, payload.length);
  out.set(payload, 5);
  return out;
}

/** Reads lines and frames from a byte stream (one reader per connection). */
export class WireReader {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  #buf = new Uint8Array(0);

  constructor(readable: ReadableStream<Uint8Array>) {
    this.#reader = readable.getReader();
  }

  async #fill(): Promise<boolean> {
    const r = await this.#reader.read();
    if (r.done) return false;
    const next = new Uint8Array(this.#buf.length + r.value.length);
    next.set(this.#buf);
    next.set(r.value, this.#buf.length);
    this.#buf = next;
    return true;
  }

  /** The next line (without "\n") parsed as JSON, or null at end of stream. */
  async readJsonLine(): Promise<unknown> {
    for (;;) {
      const nl = this.#buf.indexOf(10);
      if (nl >= 0) {
        const line = new TextDecoder().decode(this.#buf.subarray(0, nl));
        this.#buf = this.#buf.slice(nl + 1);
        try {
          return JSON.parse(line);
        } catch (e) {
          throw new RuntimeError("InvalidArgument", "Invalid holder message: it is not JSON", { cause: e });
        }
      }
      if (this.#buf.length > MAX_LINE) {
        throw new RuntimeError("InvalidArgument", "Invalid holder message: too long");
      }
      if (!await this.#fill()) return null;
    }
  }

  /** The next frame, or null at end of stream. */
  async readFrame(): Promise<{ type: number; payload: Uint8Array } | null> {
    while (this.#buf.length < 5) if (!await this.#fill()) return null;
    const len = new DataView(this.#buf.buffer, this.#buf.byteOffset).getUint32(1);
    if (len > MAX_FRAME) {
      throw new RuntimeError("InvalidArgument", `Invalid frame: ${len} bytes is over the limit`);
    }
    while (this.#buf.length < 5 + len) if (!await this.#fill()) return null;
    const type = this.#buf[0]!;
    const payload = this.#buf.slice(5, 5 + len);
    this.#buf = this.#buf.slice(5 + len);
    return { type, payload };
  }

  cancel(): void {
    this.#reader.cancel().catch(() => {});
  }
}

/** Parses a JSON frame payload that must be an object. */
export function framePayloadObject(payload: Uint8Array): Record<string, unknown> {
  let x: unknown;
  try {
    x = JSON.parse(new TextDecoder().decode(payload));
  } catch (e) {
    throw new RuntimeError("InvalidArgument", "Invalid frame payload: it is not JSON", { cause: e });
  }
  if (!isRecord(x)) throw new RuntimeError("InvalidArgument", "Invalid frame payload: expected an object");
  return x;
}

/** JSON bytes; bigints (agent counters) become numbers. Pure. */
export function jsonBytes(x: unknown): Uint8Array {
  return new TextEncoder().encode(
    JSON.stringify(x, (_k, v: unknown) => (typeof v === "bigint" ? Number(v) : v)),
  );
}
