/**
 * The built-in plugins: literal dynamic imports, so `deno compile` and `deno bundle` embed them and
 * nothing is loaded until used. Third-party plugins are added from `[plugins.paths]` in the config.
 * The registry is a value passed around explicitly, never a process-global.
 *
 * @module
 */
import type { PluginKind } from "../../plugins/types.ts";

export type ModuleLoader = () => Promise<unknown>;

export interface PluginRef {
  readonly kind: PluginKind;
  readonly name: string;
  /** `builtin` or the module path of a third-party plugin. */
  readonly origin: string;
  /** A built-in's module (third-party ones are never imported here: confined.ts runs them). */
  readonly load: ModuleLoader;
  /** A third-party plugin's pinned digest (`[plugins.integrity]`), when given. */
  readonly integrity?: string;
}

export type PluginRegistry = ReadonlyMap<string, PluginRef>;

const key = (kind: PluginKind, name: string) => `${kind}/${name}`;

const BUILTIN: readonly { kind: PluginKind; name: string; load: ModuleLoader }[] = [
  { kind: "hypervisor", name: "qemu", load: () => import("../../plugins/hypervisor/qemu/mod.ts") },
  { kind: "network", name: "none", load: () => import("../../plugins/network/none/mod.ts") },
  { kind: "network", name: "tcfilter", load: () => import("../../plugins/network/tcfilter/mod.ts") },
  { kind: "network", name: "bridge", load: () => import("../../plugins/network/bridge/mod.ts") },
  { kind: "network", name: "macvtap", load: () => import("../../plugins/network/macvtap/mod.ts") },
  { kind: "network", name: "vfio", load: () => import("../../plugins/network/vfio/mod.ts") },
  { kind: "store", name: "fs", load: () => import("../../plugins/store/fs/mod.ts") },
  { kind: "store", name: "sqlite", load: () => import("../../plugins/store/sqlite/mod.ts") },
  { kind: "storage", name: "9p", load: () => import("../../plugins/storage/9p/mod.ts") },
  { kind: "storage", name: "virtio-fs", load: () => import("../../plugins/storage/virtio-fs/mod.ts") },
  { kind: "storage", name: "virtio-blk", load: () => import("../../plugins/storage/virtio-blk/mod.ts") },
  { kind: "factory", name: "new", load: () => import("../../plugins/factory/new/mod.ts") },
  { kind: "factory", name: "template", load: () => import("../../plugins/factory/template/mod.ts") },
];

/**
 * Builds a registry of the built-ins plus third-party modules given as `name -> path` (the
 * `[plugins.paths]` table) with their pinned digests (`[plugins.integrity]`); a third-party
 * plugin's kind is read from its manifest when loaded, so it is registered under every kind and
 * checked then. Third-party modules are run confined (confined.ts), never imported by `load`.
 */
export function createRegistry(
  thirdParty: Readonly<Record<string, string>> = {},
  integrity: Readonly<Record<string, string>> = {},
): PluginRegistry {
  const m = new Map<string, PluginRef>();
  for (const b of BUILTIN) m.set(key(b.kind, b.name), { ...b, origin: "builtin" });
  for (const [name, path] of Object.entries(thirdParty)) {
    const origin = path.startsWith("file:") || /^[a-z]+:/i.test(path) ? path : absolute(path);
    for (const kind of ["hypervisor", "network", "storage", "store", "factory"] as const) {
      if (!m.has(key(kind, name))) {
        m.set(key(kind, name), {
          kind,
          name,
          origin,
          load: () => Promise.reject(new Error("a third-party plugin runs confined")),
          ...(integrity[name] !== undefined ? { integrity: integrity[name] } : {}),
        });
      }
    }
  }
  return m;
}

/** Looks up a plugin reference. */
export function findPlugin(reg: PluginRegistry, kind: PluginKind, name: string): PluginRef | undefined {
  return reg.get(key(kind, name));
}

/** Names registered for a kind (for error messages). */
export function pluginNames(reg: PluginRegistry, kind: PluginKind): string[] {
  return [...reg.values()].filter((r) => r.kind === kind).map((r) => r.name).sort();
}

function absolute(p: string): string {
  return p.startsWith("/") ? p : `${Deno.cwd()}/${p}`;
}
