/**
 * Validation of a merged raw tree and resolution of defaults into a {@link ResolvedConfig}.
 *
 * @module
 */
import * as v from "valibot";
import { hypervisorTable } from "./effective.ts";
import { ConfigError } from "../errors.ts";
import { canonicalPathSync } from "../sys/canonical_path.ts";
import {
  type ConfigSource,
  type HypervisorConfig,
  type RawConfig,
  RawConfigSchema,
  type RawHypervisor,
  type ResolvedConfig,
} from "./schema.ts";

const DEFAULT_GUEST_DIR = "/var/lib/cocoon/guest/current";
const DEFAULT_STATE_DIR = "/run/cocoon";

/**
 * Validates `raw` (already merged) and fills in defaults.
 *
 * @throws {ConfigError} `InvalidArgument` naming the file, the key, the value and what was expected.
 */
export function resolveConfig(raw: unknown, source: ConfigSource): ResolvedConfig {
  const parsed = validateRaw(raw, source.file);
  const hyp = pickHypervisor(parsed, source.file);
  const r = parsed.runtime ?? {};
  const a = parsed.agent ?? {};
  const f = parsed.factory ?? {};
  // Canonical once: every mount guard compares with /proc/self/mountinfo, which knows no links.
  const stateDir = canonicalPathSync(r.state_dir ?? DEFAULT_STATE_DIR);
  return {
    source,
    raw: parsed,
    hypervisor: resolveHypervisor(hyp.name, hyp.table),
    agent: {
      enableDebug: a.enable_debug ?? false,
      debugConsoleEnabled: a.debug_console_enabled ?? false,
      kernelModules: a.kernel_modules ?? [],
      dialTimeoutSeconds: a.dial_timeout ?? 45,
      channel: a.channel ?? "auto",
    },
    runtime: {
      enableDebug: r.enable_debug ?? false,
      internetworkingModel: r.internetworking_model ?? "tcfilter",
      disableNewNetns: r.disable_new_netns ?? false,
      sandboxCgroupOnly: r.sandbox_cgroup_only ?? false,
      vmmMemoryOverheadMiB: r.vmm_memory_overhead_mib ?? 512,
      createContainerTimeoutSeconds: r.create_container_timeout ?? 60,
      store: r.store ?? "fs",
      stateDir,
      experimental: r.experimental ?? [],
      enableAnnotations: r.enable_annotations ??
        ["runtime.create_container_timeout", "agent.enable_debug", "agent.kernel_modules"],
      apiListen: r.api_listen ?? [],
      apiListenPublic: r.api_listen_public ?? false,
      apiTokenFile: r.api_token_file ?? `${stateDir}/api.token`,
      podConfigDirs: r.pod_config_dirs ?? ["/etc/cocoon"],
    },
    factory: {
      enableTemplate: f.enable_template ?? false,
      templatePath: f.template_path ?? `${stateDir}/template`,
      vmCacheNumber: f.vm_cache_number ?? 0,
      vmCacheEndpoint: f.vm_cache_endpoint ?? `${stateDir}/cache.sock`,
    },
    plugins: { paths: parsed.plugins?.paths ?? {}, integrity: parsed.plugins?.integrity ?? {} },
  };
}

/** Fills the defaults of one hypervisor table. */
function resolveHypervisor(name: string, h: RawHypervisor): HypervisorConfig {
  const path = h.path ?? defaultVmmPath(name);
  const kernel = h.kernel ?? `${DEFAULT_GUEST_DIR}/vmlinuz`;
  const initrd = h.initrd ?? `${DEFAULT_GUEST_DIR}/initrd.img`;
  const image = h.image ?? `${DEFAULT_GUEST_DIR}/rootfs.erofs`;
  const daemon = h.virtio_fs_daemon ?? "/usr/libexec/virtiofsd";
  const resolved: HypervisorConfig = {
    name,
    path,
    validHypervisorPaths: h.valid_hypervisor_paths ?? [path],
    kernel,
    validKernelPaths: h.valid_kernel_paths ?? [kernel],
    initrd,
    validInitrdPaths: h.valid_initrd_paths ?? [initrd],
    image,
    validImagePaths: h.valid_image_paths ?? [image],
    kernelParams: h.kernel_params ?? "",
    machineType: h.machine_type ?? "q35",
    accelerator: h.accelerator ?? "auto",
    cpuModel: h.cpu_model ?? "",
    defaultVcpus: h.default_vcpus ?? 1,
    defaultMaxVcpus: h.default_maxvcpus ?? 0,
    defaultMemory: h.default_memory ?? 512,
    defaultMaxMemory: h.default_maxmemory ?? 0,
    memorySlots: h.memory_slots ?? 10,
    ...sharedFsOf(h.shared_fs ?? "auto"),
    virtioFsDaemon: daemon,
    validVirtioFsDaemonPaths: h.valid_virtio_fs_daemon_paths ?? [daemon],
    virtioFsCache: h.virtio_fs_cache ?? "auto",
    virtioFsExtraArgs: h.virtio_fs_extra_args ?? [],
    blockDeviceDriver: h.block_device_driver ?? "virtio-blk",
    disableImageNvdimm: h.disable_image_nvdimm ?? false,
    enableAnnotations: h.enable_annotations ?? ["kernel_params", "default_vcpus", "default_memory"],
    enableDebug: h.enable_debug ?? false,
    entropySource: h.entropy_source ?? "/dev/urandom",
    raw: {},
  };
  return { ...resolved, raw: { ...hypervisorTable(resolved), ...h } };
}

function defaultVmmPath(name: string): string {
  switch (name) {
    case "firecracker":
      return "/usr/bin/firecracker";
    case "clh":
    case "cloud-hypervisor":
      return "/usr/bin/cloud-hypervisor";
    default:
      return "/usr/bin/qemu-system-x86_64";
  }
}

function pickHypervisor(c: RawConfig, file: string): { name: string; table: RawHypervisor } {
  const tables = c.hypervisor ?? {};
  const names = Object.keys(tables);
  const wanted = c.runtime?.hypervisor;
  if (wanted !== undefined) {
    const t = tables[wanted];
    if (t) return { name: wanted, table: t };
    if (names.length === 0) return { name: wanted, table: {} };
    throw new ConfigError(
      "InvalidArgument",
      `Cannot load config "${file}": key "runtime.hypervisor" names a hypervisor with no table: current value is "${wanted}", tables are ${
        names.map((n) => `"hypervisor.${n}"`).join(", ")
      }`,
    );
  }
  if (names.length > 1) {
    throw new ConfigError(
      "InvalidArgument",
      `Cannot load config "${file}": several hypervisor tables (${
        names.join(", ")
      }): set key "runtime.hypervisor" to the one to use`,
    );
  }
  const name = names[0] ?? "qemu";
  return { name, table: tables[name] ?? {} };
}

/** Validates the raw tree, turning the first problem into a precise error. */
function validateRaw(raw: unknown, file: string): RawConfig {
  const r = v.safeParse(RawConfigSchema, raw);
  if (r.success) return r.output;
  const issue = r.issues[0];
  const key = (issue.path ?? []).map((p) => String(p.key)).join(".");
  const shown = JSON.stringify(issue.input) ?? String(issue.input);
  let what: string;
  if (issue.type === "strict_object") what = `key "${key}" is not a known setting`;
  else if (issue.kind === "schema") {
    what = `key "${key}" must be ${describe(issue.expected)}: current value is ${shown}`;
  } else if (issue.expected) what = `key "${key}" must be ${issue.expected}: current value is ${shown}`;
  else what = `key "${key}" is invalid (${issue.message}): current value is ${shown}`;
  throw new ConfigError("InvalidArgument", `Cannot load config "${file}": ${what}`);
}

function describe(expected: string | null): string {
  if (expected === null) return "valid";
  return expected.includes("|") ? `one of ${expected}` : `a ${expected}`;
}

/** "auto" stays virtio-9p here (pure); `loadConfig` upgrades it to virtio-fs when virtiofsd works. */
function sharedFsOf(
  v: "auto" | "virtio-9p" | "virtio-fs" | "none",
): { sharedFs: "virtio-9p" | "virtio-fs" | "none"; sharedFsAuto?: string } {
  return v === "auto" ? { sharedFs: "virtio-9p", sharedFsAuto: "virtiofsd not probed" } : { sharedFs: v };
}
