/**
 * Checks a manifest's declared permissions against what this process holds, with
 * `Deno.permissions.query`, without prompting.
 *
 * @module
 */
import type { PermissionKey } from "./manifest.ts";

/** One permission the process lacks: `{ name: "run", value: "qemu-system-x86_64" }`. */
export interface MissingPermission {
  readonly name: PermissionKey;
  readonly value?: string;
}

function descriptor(name: PermissionKey, value?: string): Deno.PermissionDescriptor {
  switch (name) {
    case "read":
    case "write":
    case "ffi":
      return value === undefined ? { name } : { name, path: value };
    case "run":
      return value === undefined ? { name } : { name, command: value };
    case "net":
    case "import":
      return value === undefined ? { name: "net" } : { name: "net", host: value };
    case "env":
      return value === undefined ? { name } : { name, variable: value };
    case "sys":
      return value === undefined
        ? { name }
        : { name, kind: value as Deno.SysPermissionDescriptor["kind"] & string };
  }
}

/** Lists every declared permission the process does not hold. */
export async function missingPermissions(perms: Deno.PermissionOptionsObject): Promise<MissingPermission[]> {
  const missing: MissingPermission[] = [];
  for (const [k, v] of Object.entries(perms)) {
    const name = k as PermissionKey; // keys were validated by validateManifest
    if (v === false || v === undefined || v === "inherit") continue;
    const values: (string | undefined)[] = Array.isArray(v) ? v.map((x) => String(x)) : [undefined];
    for (const value of values) {
      const st = await Deno.permissions.query(descriptor(name, value));
      if (st.state !== "granted") missing.push(value === undefined ? { name } : { name, value });
    }
  }
  return missing;
}

/** The `--allow-*` flags that grant `perms` (for compile.sh and worker isolation). */
export function allowFlags(perms: Deno.PermissionOptionsObject): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(perms)) {
    if (v === true) out.push(`--allow-${k}`);
    else if (Array.isArray(v) && v.length > 0) out.push(`--allow-${k}=${v.join(",")}`);
  }
  return out;
}
