/**
 * ttRPC metadata (gRPC-style headers carried in `Request.metadata`). Keys are lower-cased.
 *
 * @module
 */
import type { KeyValue } from "./envelope.ts";

/** Metadata to send: one or several values per key. */
export type MetadataInit = Readonly<Record<string, string | readonly string[]>>;
/** Received metadata, keys lower-cased. */
export type Metadata = ReadonlyMap<string, readonly string[]>;

/** Flattens metadata into envelope key/value pairs. */
export function toKeyValues(md: MetadataInit | undefined): KeyValue[] {
  const out: KeyValue[] = [];
  if (md === undefined) return out;
  for (const [k, v] of Object.entries(md)) {
    const key = k.toLowerCase();
    if (typeof v === "string") out.push({ key, value: v });
    else for (const value of v) out.push({ key, value });
  }
  return out;
}

/** Groups envelope key/value pairs by lower-cased key. */
export function fromKeyValues(kvs: readonly KeyValue[]): Metadata {
  const m = new Map<string, string[]>();
  for (const { key, value } of kvs) {
    const k = key.toLowerCase();
    const list = m.get(k);
    if (list) list.push(value);
    else m.set(k, [value]);
  }
  return m;
}
