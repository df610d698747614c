/**
 * Per-pod configuration overrides from OCI annotations `io.cocoon.config.<section>.<key>` (and Kata's
 * `io.katacontainers.config.<section>.<key>`), passed only through the allow-lists in the config:
 * `hypervisor.*` keys through `[hypervisor.X] enable_annotations`, `runtime.*` and `agent.*` keys
 * through `[runtime] enable_annotations` (also `factory.enable_template`, the only factory key a pod
 * may set). Path-valued keys must also match their `valid_*_paths`.
 *
 * @module
 */
import { ConfigError } from "../errors.ts";
import { mergeRaw } from "./load.ts";
import { resolveConfig } from "./resolve.ts";
import {
  AgentSchema,
  FactorySchema,
  HypervisorSchema,
  type ResolvedConfig,
  RuntimeSchema,
} from "./schema.ts";

const ANNOTATION_PREFIXES = ["io.cocoon.config.", "io.katacontainers.config."] as const;

type Section = "hypervisor" | "runtime" | "agent" | "factory";
const SECTIONS: Readonly<Record<Section, { readonly entries: Readonly<Record<string, unknown>> }>> = {
  hypervisor: HypervisorSchema,
  runtime: RuntimeSchema,
  agent: AgentSchema,
  factory: FactorySchema,
};

/** The only `factory.*` key a pod may set (when `runtime.enable_annotations` lists it). */
const FACTORY_KEYS = new Set(["enable_template"]);

/** Path keys and the allow-list key their values must match. */
const PATH_KEYS: Readonly<Record<string, keyof ResolvedConfig["hypervisor"]>> = {
  path: "validHypervisorPaths",
  kernel: "validKernelPaths",
  initrd: "validInitrdPaths",
  image: "validImagePaths",
  "virtio_fs_daemon": "validVirtioFsDaemonPaths",
};

/** Keys no annotation may ever set, whatever the allow-list says. */
const NEVER = new Set([
  "enable_annotations",
  "valid_hypervisor_paths",
  "valid_kernel_paths",
  "valid_initrd_paths",
  "valid_image_paths",
  "valid_virtio_fs_daemon_paths",
  "state_dir",
  "store",
  // a pod never loosens the host's confinement of its own VM
  "seccomp",
  "insecure_disable_seccomp",
  "insecure_unconfined",
  "insecure_run_as_root",
  "console_log_max_bytes",
]);

/**
 * Returns `cfg` with the allowed annotation overrides applied; annotations outside the two prefixes
 * are ignored.
 *
 * @throws {ConfigError} `InvalidArgument` for an unknown key, a key outside the allow-list, a value of
 * the wrong type, or a path outside its valid_*_paths.
 */
export function applyAnnotations(
  cfg: ResolvedConfig,
  annotations: Readonly<Record<string, string>>,
): ResolvedConfig {
  const hyp: Record<string, unknown> = {};
  const runtime: Record<string, unknown> = {};
  const agent: Record<string, unknown> = {};
  const factory: Record<string, unknown> = {};
  let any = false;
  for (const [name, value] of Object.entries(annotations)) {
    const prefix = ANNOTATION_PREFIXES.find((p) => name.startsWith(p));
    if (!prefix) continue;
    const rest = name.slice(prefix.length);
    const dot = rest.indexOf(".");
    const section = rest.slice(0, dot);
    const key = rest.slice(dot + 1);
    if (dot < 0 || !isSection(section) || !(key in SECTIONS[section].entries)) {
      throw refuse(name, "it names no known setting");
    }
    const allowed = section === "hypervisor"
      ? cfg.hypervisor.enableAnnotations.includes(key)
      : cfg.runtime.enableAnnotations.includes(`${section}.${key}`);
    if (!allowed || NEVER.has(key) || (section === "factory" && !FACTORY_KEYS.has(key))) {
      throw refuse(
        name,
        section === "hypervisor"
          ? `"${key}" is not in "hypervisor.${cfg.hypervisor.name}.enable_annotations"`
          : `"${section}.${key}" is not in "runtime.enable_annotations"`,
      );
    }
    const parsed = coerce(name, value, SECTIONS[section].entries[key]);
    if (section === "hypervisor") {
      const listKey = PATH_KEYS[key];
      if (listKey !== undefined) checkPath(name, String(parsed), cfg.hypervisor[listKey]);
      hyp[key] = parsed;
    } else (section === "runtime" ? runtime : section === "agent" ? agent : factory)[key] = parsed;
    any = true;
  }
  if (!any) return cfg;
  const over = { hypervisor: { [cfg.hypervisor.name]: hyp }, runtime, agent, factory };
  return resolveConfig(mergeRaw(cfg.raw, over), { file: cfg.source.file, dropIns: cfg.source.dropIns });
}

function isSection(s: string): s is Section {
  return s === "hypervisor" || s === "runtime" || s === "agent" || s === "factory";
}

function refuse(name: string, why: string): ConfigError {
  return new ConfigError(
    "InvalidArgument",
    `Cannot apply annotation "${name}" as ${why}: ask an administrator to allow it in the configuration`,
  );
}

function schemaType(schema: unknown): string {
  let s = schema as { type?: string; wrapped?: unknown };
  while (s.type === "optional" && s.wrapped) s = s.wrapped as { type?: string; wrapped?: unknown };
  return s.type ?? "unknown";
}

function coerce(name: string, value: string, schema: unknown): unknown {
  const bad = (what: string) =>
    new ConfigError(
      "InvalidArgument",
      `Cannot apply annotation "${name}": value must be ${what}: current value is "${value.slice(0, 100)}"`,
    );
  switch (schemaType(schema)) {
    case "number": {
      if (!/^\d+$/.test(value)) throw bad("a whole number");
      return Number(value);
    }
    case "boolean": {
      if (value !== "true" && value !== "false") throw bad("true or false");
      return value === "true";
    }
    case "array":
      return value.split(",").map((s) => s.trim()).filter((s) => s !== "");
    default:
      return value;
  }
}

function checkPath(name: string, value: string, allowed: unknown): void {
  const list = Array.isArray(allowed) ? allowed.filter((x): x is string => typeof x === "string") : [];
  if (!list.some((g) => globMatch(g, value))) {
    throw new ConfigError(
      "InvalidArgument",
      `Cannot apply annotation "${name}" as path "${value}" matches none of the valid paths ${
        JSON.stringify(list)
      }`,
    );
  }
}

/** Shell-style glob with `*` and `?` (no `/` crossing for `*`). */
export function globMatch(glob: string, s: string): boolean {
  const re = "^" + glob.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, "[^/]*").replace(/\?/g, "[^/]") +
    "$";
  return new RegExp(re).test(s);
}
