/**
 * Loads a plugin: finds it in the registry, validates its manifest, checks that the process holds
 * every permission it declares, and only then creates it. Built-ins are imported into the
 * runtime's isolate; third-party plugins run confined in a Worker with exactly their manifest's
 * permissions, from a local file whose digest the configuration pins (confined.ts).
 *
 * @module
 */
import { PluginError } from "../errors.ts";
import type { PluginBackends, PluginContext, PluginKind, PluginManifest } from "../../plugins/types.ts";
import { checkIntegrity, confinedManifest, createConfined, pluginFile } from "./confined.ts";
import { validatePluginModule } from "./manifest.ts";
import { missingPermissions } from "./permissions.ts";
import { findPlugin, pluginNames, type PluginRef, type PluginRegistry } from "./registry.ts";
import { createLogger, nullSink } from "../log/logger.ts";

export interface LoadedPlugin<K extends PluginKind> {
  readonly manifest: PluginManifest<K>;
  readonly instance: PluginBackends[K];
}

function refOf(reg: PluginRegistry, kind: PluginKind, name: string): PluginRef {
  const ref = findPlugin(reg, kind, name);
  if (ref !== undefined) return ref;
  const known = pluginNames(reg, kind);
  throw new PluginError(
    "InvalidArgument",
    `Cannot find ${kind} plugin "${name}": known ${kind} plugins are ${
      known.length ? known.join(", ") : "none"
    }`,
  );
}

function checkKind(manifest: PluginManifest, kind: PluginKind, name: string, origin: string): void {
  if (manifest.kind !== kind) {
    throw new PluginError(
      "InvalidArgument",
      `Cannot load plugin "${name}" from "${origin}" as a ${kind} plugin: its manifest says kind "${manifest.kind}"`,
    );
  }
}

async function builtinModule(ref: PluginRef, kind: PluginKind, name: string) {
  let mod: unknown;
  try {
    mod = await ref.load();
  } catch (e) {
    throw new PluginError(
      "NotFound",
      `Cannot load ${kind} plugin "${name}" from "${ref.origin}": ${
        e instanceof Error ? e.message : String(e)
      }`,
      { cause: e },
    );
  }
  return validatePluginModule(mod, `builtin:${kind}/${name}`);
}

/**
 * The manifest of a plugin without creating it (for `cocoon plugins`); a third-party plugin's
 * module runs for this in a Worker that may only read its file.
 */
export async function inspectPlugin(
  reg: PluginRegistry,
  kind: PluginKind,
  name: string,
): Promise<PluginManifest> {
  const ref = refOf(reg, kind, name);
  let manifest: PluginManifest;
  if (ref.origin === "builtin") {
    manifest = (await builtinModule(ref, kind, name)).manifest;
  } else {
    const file = pluginFile(ref.origin);
    await checkIntegrity(name, file, ref.integrity);
    manifest = await confinedManifest(name, file, createLogger({ sink: nullSink }));
  }
  checkKind(manifest, kind, name, ref.origin);
  return manifest;
}

/**
 * Loads and creates a plugin of `kind` called `name`.
 *
 * @throws {PluginError} `InvalidArgument` for an unknown name or a malformed module,
 * `PermissionDenied` naming each permission the process lacks, or for a third-party module that
 * is not pinned or changed.
 */
export async function loadPlugin<K extends PluginKind>(
  reg: PluginRegistry,
  kind: K,
  name: string,
  ctx: PluginContext,
): Promise<LoadedPlugin<K>> {
  const ref = refOf(reg, kind, name);
  const manifest = await inspectPlugin(reg, kind, name);
  const missing = await missingPermissions(manifest.permissions);
  if (missing.length > 0) {
    const first = missing[0]!;
    const list = missing.map((m) => (m.value === undefined ? `"${m.name}"` : `"${m.name}" (${m.value})`))
      .join(", ");
    throw new PluginError(
      "PermissionDenied",
      `Cannot load plugin "${name}" as permission "${first.name}" is missing${
        first.value === undefined ? "" : `: requested "${first.value}"`
      } (all missing: ${list}); run cocoon with the permissions in the plugin's manifest`,
    );
  }
  const instance = ref.origin === "builtin"
    ? await (await builtinModule(ref, kind, name)).create(ctx)
    : (await createConfined(manifest, pluginFile(ref.origin), ctx)).instance;
  if (typeof instance !== "object" || instance === null) {
    throw new PluginError(
      "Internal",
      `Cannot create plugin "${name}": create() returned ${String(instance)}`,
    );
  }
  return { manifest: manifest as PluginManifest<K>, instance: instance as PluginBackends[K] };
}
