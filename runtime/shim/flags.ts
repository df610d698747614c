/**
 * The shim v2 binary's command line, as containerd 1.6 passes it (Go `flag` syntax: `-name value`,
 * `-name=value`, `--name value`, `--name=value`; booleans take no value), then one action word.
 * Unknown flags are tolerated: `-x=v` is skipped whole, a bare unknown `-x` as a boolean.
 *
 * @module
 */
import { RuntimeError } from "../errors.ts";

/** What `containerd-shim-cocoon-v2` was asked to do. */
export type ShimAction = "start" | "delete";

export interface ShimFlags {
  readonly namespace: string;
  /** containerd's gRPC socket (`-address`). */
  readonly address: string;
  readonly publishBinary: string;
  readonly id: string;
  /** `-bundle` (given to `delete`); `start` runs in the bundle directory. */
  readonly bundle: string;
  readonly debug: boolean;
  readonly version: boolean;
  readonly action: ShimAction | null;
}

const STRING_FLAGS: Readonly<Record<string, keyof ShimFlags>> = {
  namespace: "namespace",
  address: "address",
  "publish-binary": "publishBinary",
  id: "id",
  bundle: "bundle",
  socket: "bundle", // parsed for compatibility; the value is never used
};
const BOOL_FLAGS = new Set(["debug", "v"]);

/** Parses the shim's argv. Pure. @throws {RuntimeError} `InvalidArgument` for a bad action or missing value. */
export function parseShimFlags(argv: readonly string[]): ShimFlags {
  const s: Record<string, string> = { namespace: "", address: "", publishBinary: "", id: "", bundle: "" };
  let debug = false;
  let version = false;
  const words: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? "";
    if (!a.startsWith("-") || a === "-" || a === "--") {
      if (a !== "--") words.push(a);
      else words.push(...argv.slice(i + 1));
      if (a === "--") break;
      continue;
    }
    const body = a.replace(/^--?/, "");
    const eq = body.indexOf("=");
    const name = eq >= 0 ? body.slice(0, eq) : body;
    const inline = eq >= 0 ? body.slice(eq + 1) : undefined;
    if (BOOL_FLAGS.has(name)) {
      const on = inline === undefined || inline === "true" || inline === "1";
      if (name === "debug") debug = on;
      else version = on;
      continue;
    }
    const key = STRING_FLAGS[name];
    if (key === undefined) continue; // unknown flag: tolerated
    let value = inline;
    if (value === undefined) {
      value = argv[i + 1];
      if (value === undefined) {
        throw new RuntimeError("InvalidArgument", `Invalid shim arguments: flag "-${name}" needs a value`);
      }
      i++;
    }
    if (name !== "socket") s[key] = value;
  }
  const word = words[0];
  if (word !== undefined && word !== "start" && word !== "delete") {
    throw new RuntimeError(
      "InvalidArgument",
      `Invalid shim action "${word.slice(0, 40)}": expected "start" or "delete"`,
    );
  }
  return {
    namespace: s["namespace"] ?? "",
    address: s["address"] ?? "",
    publishBinary: s["publishBinary"] ?? "",
    id: s["id"] ?? "",
    bundle: s["bundle"] ?? "",
    debug,
    version,
    action: word ?? null,
  };
}
