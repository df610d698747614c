/**
 * Test-only writer loop shared by the stores' child-process writers (`<store>/_test_crash_writer.ts`)
 * and the record check used after those children ran or were killed.
 *
 * A record carries its key, its writer and an FNV-1a checksum of a random payload (1 B to 48 KiB),
 * so a reader can tell a whole record from a torn or cross-wired one.
 *
 * @module
 */
import type { MetadataStore } from "../types.ts";

/** FNV-1a 32-bit hash of a string's UTF-16 code units. */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

const LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

function payload(): string {
  const n = 1 + Math.floor(Math.random() * 48 * 1024);
  const b = crypto.getRandomValues(new Uint8Array(Math.min(n, 65536)));
  let s = "";
  for (let i = 0; i < n; i++) s += LETTERS[(b[i] ?? 0) % LETTERS.length];
  return s;
}

/** A record as the writer writes it. */
export function makeRecord(key: string, seq: number): Record<string, unknown> {
  const p = payload();
  return {
    kind: "test-record",
    key,
    writer: Deno.pid,
    seq,
    nested: { list: [1, "two", null] },
    payload: p,
    sum: fnv1a(p),
  };
}

/** Why `value` is not a whole record for `key`, or undefined when it is. */
export function recordProblem(key: string, value: unknown): string | undefined {
  if (typeof value !== "object" || value === null) return `not an object: ${typeof value}`;
  const v: Record<string, unknown> = { ...value };
  if (v["kind"] !== "test-record") return "wrong kind";
  if (v["key"] !== key) return `written for ${JSON.stringify(v["key"])}`;
  if (typeof v["payload"] !== "string" || typeof v["sum"] !== "number") return "payload or sum missing";
  if (fnv1a(v["payload"]) !== v["sum"]) return "checksum mismatch";
  return undefined;
}

/** The keys the writer of `keyspace` cycles through. */
export function writerKey(keyspace: string, i: number): string {
  const sb = `sandboxes/${keyspace}-${i % 6}`;
  return i % 2 === 0 ? sb : `${sb}/containers/c${i % 4}`;
}

/**
 * Saves records in a tight loop: `count` of them (0 = until killed), deleting one every 5 saves.
 * Prints "ready" on stdout after the first save.
 */
export async function runWriter(store: MetadataStore, keyspace: string, count: number): Promise<void> {
  const out = new TextEncoder();
  for (let i = 0; count === 0 || i < count; i++) {
    const key = writerKey(keyspace, i);
    await store.save(key, makeRecord(key, i));
    if (i % 5 === 4) await store.delete(writerKey(keyspace, i + 3));
    if (i === 0) await Deno.stdout.write(out.encode("ready\n"));
  }
}
