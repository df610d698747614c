/**
 * Validation of plugin modules and manifests. A module's default export must be a
 * `{ manifest, create }` object; anything else is refused with a message naming what is wrong.
 *
 * @module
 */
import { PluginError } from "../errors.ts";
import {
  PLUGIN_KINDS,
  type PluginKind,
  type PluginManifest,
  type PluginModule,
} from "../../plugins/types.ts";
import { isRecord } from "../sys/files.ts";

// A leading digit is allowed: the contract names "9p" (plugins/types.ts PluginManifest.name).
const NAME_RE = /^[a-z0-9][a-z0-9-]{0,31}$/;
const PERMISSION_KEYS = ["read", "write", "run", "net", "env", "sys", "ffi", "import"] as const;
export type PermissionKey = typeof PERMISSION_KEYS[number];

/**
 * Checks that `mod` (an imported module namespace) has a well-formed default export.
 *
 * @throws {PluginError} `InvalidArgument` naming `where` and the first problem found.
 */
export function validatePluginModule(mod: unknown, where: string): PluginModule {
  const bad = (why: string) =>
    new PluginError("InvalidArgument", `Cannot load plugin from "${where}": ${why}`);
  if (!isRecord(mod) || !isRecord(mod["default"])) throw bad("its default export is not a plugin object");
  const def = mod["default"];
  if (typeof def["create"] !== "function") throw bad('its default export has no "create" function');
  const manifest = validateManifest(def["manifest"], where);
  const create = def["create"] as PluginModule["create"];
  return { manifest, create: (ctx) => create.call(def, ctx) };
}

/** Checks a manifest object. */
export function validateManifest(m: unknown, where: string): PluginManifest {
  const bad = (why: string) =>
    new PluginError("InvalidArgument", `Cannot load plugin from "${where}": manifest ${why}`);
  if (!isRecord(m)) throw bad("is missing");
  const { kind, name, apiVersion, description, permissions, features } = m;
  if (typeof kind !== "string" || !(PLUGIN_KINDS as readonly string[]).includes(kind)) {
    throw bad(`"kind" must be one of ${PLUGIN_KINDS.join(", ")}: current value is ${JSON.stringify(kind)}`);
  }
  if (typeof name !== "string" || !NAME_RE.test(name)) {
    throw bad(`"name" must be lower-case letters, digits and "-": current value is ${JSON.stringify(name)}`);
  }
  if (apiVersion !== 1) throw bad(`"apiVersion" must be 1: current value is ${JSON.stringify(apiVersion)}`);
  if (typeof description !== "string") throw bad('"description" must be a string');
  if (!isRecord(permissions)) {
    throw bad('"permissions" must be an object like { run: ["qemu-system-x86_64"] }');
  }
  for (const [k, v] of Object.entries(permissions)) {
    if (!(PERMISSION_KEYS as readonly string[]).includes(k)) {
      throw bad(`"permissions.${k}" is not a Deno permission (use ${PERMISSION_KEYS.join(", ")})`);
    }
    const ok = typeof v === "boolean" || v === "inherit" ||
      (Array.isArray(v) && v.every((x) => typeof x === "string" && x !== ""));
    if (!ok) throw bad(`"permissions.${k}" must be a boolean, "inherit" or a list of strings`);
  }
  if (features !== undefined && !(Array.isArray(features) && features.every((f) => typeof f === "string"))) {
    throw bad('"features" must be a list of strings');
  }
  return m as unknown as PluginManifest<PluginKind>; // every field checked above
}
