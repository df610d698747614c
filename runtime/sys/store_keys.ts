/**
 * Metadata store keys and values: the validation every store plugin (fs, sqlite) shares. It lives
 * here because plugins may not import each other but may import runtime/sys.
 *
 * @module
 */
import { RuntimeError } from "../errors.ts";

/** Longest accepted key, in characters (all key characters are ASCII). */
export const MAX_KEY_LENGTH = 512;
/** Longest accepted key segment: a segment is a directory name in the fs store (NAME_MAX is 255). */
const MAX_SEGMENT_LENGTH = 200;
/** Largest accepted serialised value, in UTF-8 bytes. */
export const MAX_VALUE_BYTES = 16 * 1024 * 1024;

const KEY_CHARS = /^[A-Za-z0-9_.+\-/]*$/;
const SEGMENT = new RegExp(`^[A-Za-z0-9_.+-]{1,${MAX_SEGMENT_LENGTH}}$`);

/** True when `name` can be one segment of a key (a directory name in the fs store). */
export function isKeySegment(name: string): boolean {
  return SEGMENT.test(name) && name !== "." && !name.includes("..");
}

function quote(s: string): string {
  return JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}...` : s);
}

function invalid(what: string, s: string, reason: string): RuntimeError {
  return new RuntimeError("InvalidArgument", `Cannot use store ${what} ${quote(s)}: ${reason}`);
}

/** Why `s` is not an acceptable key or key prefix, or undefined when it is. */
function problem(s: string, isPrefix: boolean): string | undefined {
  if (s.includes("\0")) return "it contains a NUL character";
  if (!KEY_CHARS.test(s)) return "only the characters A-Z a-z 0-9 _ . + - / are allowed";
  if (s.length > MAX_KEY_LENGTH) return `it is longer than ${MAX_KEY_LENGTH} characters`;
  if (s.includes("..")) return 'it contains ".."';
  if (s.startsWith("/")) return 'it starts with "/"';
  if (s.includes("//")) return "it has an empty segment";
  if (!isPrefix && s.length === 0) return "it is empty";
  if (!isPrefix && s.endsWith("/")) return 'it ends with "/"';
  const segments = s.split("/");
  // A prefix may end in part of a segment: "a/." matches "a/.hidden".
  if (segments.some((seg, i) => seg === "." && !(isPrefix && i === segments.length - 1))) {
    return 'it has a "." segment';
  }
  if (segments.some((seg) => seg.length > MAX_SEGMENT_LENGTH)) {
    return `a segment is longer than ${MAX_SEGMENT_LENGTH} characters`;
  }
  return undefined;
}

/** Returns `key` when it is a valid store key; throws `InvalidArgument` otherwise. */
export function checkKey(key: unknown): string {
  if (typeof key !== "string") throw invalid("key", String(key), "it is not a string");
  const p = problem(key, false);
  if (p !== undefined) throw invalid("key", key, p);
  return key;
}

/** Returns `prefix` when it is a valid `list` prefix (may be empty or end with "/"). */
export function checkPrefix(prefix: unknown): string {
  if (prefix === undefined) return "";
  if (typeof prefix !== "string") throw invalid("prefix", String(prefix), "it is not a string");
  const p = problem(prefix, true);
  if (p !== undefined) throw invalid("prefix", prefix, p);
  return prefix;
}

/** Serialises a value for storage; throws `InvalidArgument` when it is not JSON-serialisable. */
export function encodeValue(key: string, value: unknown): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (e) {
    throw new RuntimeError(
      "InvalidArgument",
      `Cannot save store record ${quote(key)}: the value is not JSON`,
      {
        cause: e,
      },
    );
  }
  if (text === undefined) {
    throw new RuntimeError(
      "InvalidArgument",
      `Cannot save store record ${quote(key)}: the value is not JSON`,
    );
  }
  // UTF-8 length is at most 3 bytes per UTF-16 unit; only measure exactly when it could matter.
  if (text.length * 3 > MAX_VALUE_BYTES && new TextEncoder().encode(text).length > MAX_VALUE_BYTES) {
    throw new RuntimeError(
      "InvalidArgument",
      `Cannot save store record ${quote(key)}: the value is larger than ${MAX_VALUE_BYTES} bytes`,
    );
  }
  return text;
}

/** Parses a stored value; a value that does not parse is reported as `DataLoss`. */
export function decodeValue(key: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new RuntimeError(
      "DataLoss",
      `Cannot load store record ${quote(key)}: the stored value is not JSON`,
      {
        cause: e,
      },
    );
  }
}
