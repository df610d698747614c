/**
 * What the supervisor and its daemon say to each other.
 *
 * - Link (`<dir>/supervisor.sock`, 0600): the daemon connects once and sends JSON lines
 *   `{"id": n, "op": "front", "path": P, "tag": T}` (listen on P for me, tagging its connections T),
 *   `{"id": n, "op": "ready", "keep": [K...]}` (the backend socket serves; answer on the public ones
 *   now; of the stdio held, keep only the processes K), `{"id": n, "op": "exiting"}` (stop
 *   answering: the daemon exits on purpose), `{"id": n, "op": "hold", "key": K, "stdio": {...}}`
 *   and `{"id": n, "op": "release", "key": K}` (a process's stdio FIFOs, fd_store.ts). The supervisor
 *   answers `{"id": n}` or `{"id": n, "error": "..."}`.
 * - Backend (`<dir>/backend.sock`, 0600): each relayed connection starts with its tag (2 bytes
 *   big-endian length, then UTF-8), then carries the client's ttRPC frames unchanged.
 *
 * @module
 */
import { RuntimeError } from "../../errors.ts";
import type { HeldStdio } from "./fd_store.ts";

export type LinkRequest =
  | { readonly id: number; readonly op: "front"; readonly path: string; readonly tag: string }
  | { readonly id: number; readonly op: "ready"; readonly keep: readonly string[] }
  | { readonly id: number; readonly op: "exiting" }
  | { readonly id: number; readonly op: "hold"; readonly key: string; readonly stdio: HeldStdio }
  | { readonly id: number; readonly op: "release"; readonly key: string };

export interface LinkReply {
  readonly id: number;
  readonly error?: string;
}

/** The daemon's socket that the relays dial, and the link socket, in a daemon directory. */
export function supervisorPaths(dir: string): { backend: string; link: string; pidFile: string } {
  return { backend: `${dir}/backend.sock`, link: `${dir}/supervisor.sock`, pidFile: `${dir}/supervisor.pid` };
}

/** Tag of the main socket (`cocoon.sock`). */
export const MAIN_TAG = "main";
const MAX_TAG = 512;

/** Parses one link line. Pure. @throws {RuntimeError} InvalidArgument */
export function parseLinkRequest(line: string): LinkRequest {
  let x: unknown;
  try {
    x = JSON.parse(line);
  } catch {
    throw new RuntimeError("InvalidArgument", "Invalid supervisor request: not JSON");
  }
  if (typeof x !== "object" || x === null || !("id" in x) || typeof x.id !== "number" || !("op" in x)) {
    throw new RuntimeError("InvalidArgument", "Invalid supervisor request: it needs a numeric id and an op");
  }
  const { id, op } = x;
  if (op === "exiting") return { id, op };
  if (op === "ready") {
    const keep = "keep" in x && Array.isArray(x.keep) ? x.keep.filter((k) => typeof k === "string") : [];
    return { id, op, keep };
  }
  const key = "key" in x && typeof x.key === "string" && x.key !== "" ? x.key : undefined;
  if (op === "release" && key !== undefined) return { id, op, key };
  if (op === "hold" && key !== undefined && "stdio" in x && typeof x.stdio === "object" && x.stdio !== null) {
    const s: Record<string, unknown> = { ...x.stdio };
    const path = (k: string) => typeof s[k] === "string" && s[k].startsWith("/") ? { [k]: s[k] } : {};
    return { id, op, key, stdio: { ...path("stdin"), ...path("stdout"), ...path("stderr") } };
  }
  if (
    op === "front" && "path" in x && typeof x.path === "string" && x.path.startsWith("/") &&
    "tag" in x && typeof x.tag === "string" && x.tag !== "" && x.tag.length <= MAX_TAG
  ) {
    return { id, op, path: x.path, tag: x.tag };
  }
  throw new RuntimeError("InvalidArgument", `Invalid supervisor request: op ${JSON.stringify(op)}`);
}

/** A backend connection's first bytes. Pure. */
export function encodeTag(tag: string): Uint8Array {
  const t = new TextEncoder().encode(tag);
  if (t.length === 0 || t.length > MAX_TAG) {
    throw new RuntimeError("InvalidArgument", `Invalid relay tag of ${t.length} bytes`);
  }
  const out = new Uint8Array(2 + t.length);
  new DataView(out.buffer).setUint16(0, t.length);
  out.set(t, 2);
  return out;
}

/** Writes all of `b` (a socket write may take part of it). */
export async function writeAll(conn: Deno.Conn, b: Uint8Array): Promise<void> {
  for (let off = 0; off < b.length;) off += await conn.write(b.subarray(off));
}

async function readExactly(conn: Deno.Conn, n: number): Promise<Uint8Array> {
  const b = new Uint8Array(n);
  for (let off = 0; off < n;) {
    const got = await conn.read(b.subarray(off));
    if (got === null) throw new RuntimeError("Unavailable", "Relay connection closed before its tag");
    off += got;
  }
  return b;
}

/** Reads a backend connection's tag (exactly its bytes: the frames after it stay unread). */
export async function readTag(conn: Deno.Conn): Promise<string> {
  const len = new DataView((await readExactly(conn, 2)).buffer).getUint16(0);
  if (len === 0 || len > MAX_TAG) {
    throw new RuntimeError("InvalidArgument", `Invalid relay tag length ${len}`);
  }
  return new TextDecoder().decode(await readExactly(conn, len));
}

/** JSON lines of a connection, one at a time (lines past 64 KiB end it). */
export async function* lines(conn: Deno.Conn): AsyncGenerator<string> {
  const dec = new TextDecoder();
  let buf = "";
  const chunk = new Uint8Array(16 * 1024);
  for (;;) {
    const n = await conn.read(chunk).catch(() => null);
    if (n === null) return;
    buf += dec.decode(chunk.subarray(0, n), { stream: true });
    for (let i = buf.indexOf("\n"); i >= 0; i = buf.indexOf("\n")) {
      yield buf.slice(0, i);
      buf = buf.slice(i + 1);
    }
    if (buf.length > 64 * 1024) return;
  }
}
