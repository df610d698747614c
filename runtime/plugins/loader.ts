/**
 * Loads a plugin: finds it in the registry, imports it, validates its manifest, checks that the
 * process holds every permission it declares, and only then calls `create`.
 *
 * @module
 */
import { PluginError } from "../errors.ts";
import type { PluginBackends, PluginContext, PluginKind, PluginManifest } from "../../plugins/types.ts";
import { validatePluginModule } from "./manifest.ts";
import { missingPermissions } from "./permissions.ts";
import { findPlugin, pluginNames, type PluginRegistry } from "./registry.ts";

export interface LoadedPlugin<K extends PluginKind> {
  readonly manifest: PluginManifest<K>;
  readonly instance: PluginBackends[K];
}

/** Imports and validates a plugin module without creating it (for `cocoon plugins`). */
export async function inspectPlugin(
  reg: PluginRegistry,
  kind: PluginKind,
  name: string,
): Promise<PluginManifest> {
  const ref = findPlugin(reg, kind, name);
  if (!ref) {
    const known = pluginNames(reg, kind);
    throw new PluginError(
      "InvalidArgument",
      `Cannot find ${kind} plugin "${name}": known ${kind} plugins are ${
        known.length ? known.join(", ") : "none"
      }`,
    );
  }
  let mod: unknown;
  try {
    mod = await ref.load();
  } catch (e) {
    throw new PluginError(
      "NotFound",
      `Cannot load ${kind} plugin "${name}" from "${ref.origin}": ${(e as Error).message}`,
      {
        cause: e,
      },
    );
  }
  const { manifest } = validatePluginModule(
    mod,
    ref.origin === "builtin" ? `builtin:${kind}/${name}` : ref.origin,
  );
  if (manifest.kind !== kind) {
    throw new PluginError(
      "InvalidArgument",
      `Cannot load plugin "${name}" from "${ref.origin}" as a ${kind} plugin: its manifest says kind "${manifest.kind}"`,
    );
  }
  return manifest;
}

/**
 * Loads and creates a plugin of `kind` called `name`.
 *
 * @throws {PluginError} `InvalidArgument` for an unknown name or a malformed module,
 * `PermissionDenied` naming each permission the process lacks.
 */
export async function loadPlugin<K extends PluginKind>(
  reg: PluginRegistry,
  kind: K,
  name: string,
  ctx: PluginContext,
): Promise<LoadedPlugin<K>> {
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
  const ref = findPlugin(reg, kind, name)!;
  const mod = validatePluginModule(await ref.load(), ref.origin);
  const instance = await mod.create(ctx);
  if (typeof instance !== "object" || instance === null) {
    throw new PluginError(
      "Internal",
      `Cannot create plugin "${name}": create() returned ${String(instance)}`,
    );
  }
  return { manifest: manifest as PluginManifest<K>, instance: instance as PluginBackends[K] };
}
