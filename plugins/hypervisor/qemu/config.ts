/**
 * The `[hypervisor.qemu]` configuration table, validated into {@link QemuConfig}.
 *
 * @module
 */
import { ConfigError } from "../../../runtime/errors.ts";
import { CORE_HYPERVISOR_KEYS } from "../../types.ts";

export type MachineType = "q35" | "microvm" | "pc";

/** Resolved `[hypervisor.qemu]` settings. */
export interface QemuConfig {
  /** QEMU binary. @default "qemu-system-x86_64" */
  readonly path: string;
  /** "microvm" does not boot the Debian cloud kernel under TCG (no timer to calibrate); hotplug needs "q35". @default "q35" */
  readonly machineType: MachineType;
  /** `-cpu` model; empty = "host" under KVM, "max" under TCG. @default "" */
  readonly cpuModel: string;
  /** @default 1 */
  readonly defaultVcpus: number;
  /** 0 = the host's CPU count. @default 0 */
  readonly defaultMaxVcpus: number;
  /** MiB. @default 512 */
  readonly defaultMemory: number;
  /** Memory hotplug slots (0 disables memory hotplug). @default 8 */
  readonly memorySlots: number;
  /** Extra kernel parameters for every VM (before the VM's own). @default [] */
  readonly kernelParams: readonly string[];
  /** @default "auto" */
  readonly accelerator: "auto" | "kvm" | "tcg";
  /** Verbose guest kernel output (drops "quiet"). @default false */
  readonly enableDebug: boolean;
  /** Free PCIe root ports kept for hotplug (q35). @default 4 */
  readonly hotplugPorts: number;
  /**
   * QEMU's own seccomp filter (`-sandbox on,...`). Only `insecure_disable_seccomp = true` turns it
   * off (`cocoon check` warns). @default true
   */
  readonly seccomp: boolean;
  /**
   * Run QEMU with the no-privileged-files seccomp filter (no setuid files, device nodes or
   * xattrs through virtio-9p). Only `insecure_unconfined = true` turns it off. @default true
   */
  readonly confine: boolean;
  /**
   * QEMU runs as a uid of its own per VM, in a read-only mount namespace (needs `confine`). Only
   * `insecure_run_as_root = true` keeps it root in the host's mount namespace; VM templates and
   * VFIO devices still need root (README "Security"). @default true
   */
  readonly vmUser: boolean;
  /** Back guest RAM with shared memfd (needed by virtio-fs; implied when a boot device is virtio-fs). @default false */
  readonly sharedMemory: boolean;
  /** vsock port of the guest agent when the agent channel is vsock. @default 1024 */
  readonly agentVsockPort: number;
  /** Time to wait for QEMU to start and QMP to answer, ms. @default 30000 */
  readonly startTimeoutMs: number;
  /** The console log is kept under this size (its last half is kept past it). @default 4194304 */
  readonly consoleLogMaxBytes: number;
  /**
   * TCG's translation buffer, MiB (`-accel tcg,tb-size=`); 0 = QEMU's default. Measured here (TCG, 2
   * cores, 512 MiB pods): 64 takes QEMU's PSS per idle pod from 489 to 367 MiB and a cold start from
   * 12.6 to 14.5 s. Ignored under KVM. @default 0
   */
  readonly tcgTbSizeMiB: number;
  /**
   * A virtio-balloon device with free page reporting: the guest kernel reports pages it freed and
   * QEMU gives them back to the host, so a VM holds what its guest uses rather than all it ever
   * touched (boot's initramfs, caches dropped). Kata users ask for it (kata-containers#8401). Needs
   * virtio_balloon in the guest (built into the tuned kernel). @default true
   */
  readonly freePageReporting: boolean;
}

export const DEFAULT_QEMU_CONFIG: QemuConfig = {
  path: "qemu-system-x86_64",
  machineType: "q35",
  cpuModel: "",
  defaultVcpus: 1,
  defaultMaxVcpus: 0,
  defaultMemory: 512,
  memorySlots: 8,
  kernelParams: [],
  accelerator: "auto",
  enableDebug: false,
  hotplugPorts: 4,
  seccomp: true,
  confine: true,
  vmUser: true,
  sharedMemory: false,
  agentVsockPort: 1024,
  startTimeoutMs: 30_000,
  consoleLogMaxBytes: 4 * 1024 * 1024,
  tcgTbSizeMiB: 0,
  freePageReporting: true,
};

const KEYS: Readonly<Record<string, keyof QemuConfig>> = {
  path: "path",
  "machine_type": "machineType",
  "cpu_model": "cpuModel",
  "default_vcpus": "defaultVcpus",
  "default_maxvcpus": "defaultMaxVcpus",
  "default_memory": "defaultMemory",
  "memory_slots": "memorySlots",
  "kernel_params": "kernelParams",
  accelerator: "accelerator",
  "enable_debug": "enableDebug",
  "hotplug_ports": "hotplugPorts",
  seccomp: "seccomp",
  "insecure_disable_seccomp": "seccomp",
  "insecure_unconfined": "confine",
  "insecure_run_as_root": "vmUser",
  "shared_memory": "sharedMemory",
  "agent_vsock_port": "agentVsockPort",
  "start_timeout_ms": "startTimeoutMs",
  "console_log_max_bytes": "consoleLogMaxBytes",
  "tcg_tb_size_mib": "tcgTbSizeMiB",
  "free_page_reporting": "freePageReporting",
};

/**
 * Validates the raw `[hypervisor.qemu]` table. Unknown keys are an error; `kernel_params` may be
 * a string (split on spaces) or an array of strings.
 *
 * @throws {ConfigError} InvalidArgument naming the key and the value.
 */
export function parseQemuConfig(raw: Readonly<Record<string, unknown>>): QemuConfig {
  const out: Record<string, unknown> = { ...DEFAULT_QEMU_CONFIG };
  for (const [k, v] of Object.entries(raw)) {
    if (CORE_HYPERVISOR_KEYS.includes(k)) continue; // validated and used by the core
    const key = KEYS[k];
    if (key === undefined) throw bad(k, v, `is unknown: use one of ${Object.keys(KEYS).join(", ")}`);
    out[key] = check(k, key, v);
    if (k === "seccomp" && v === false) {
      throw bad(k, v, "cannot turn QEMU's seccomp filter off: set insecure_disable_seccomp = true to do so");
    }
    if (k.startsWith("insecure_")) out[key] = v !== true;
  }
  const c: QemuConfig = {
    path: str(out["path"]),
    machineType: machine(out["machineType"]),
    cpuModel: str(out["cpuModel"]),
    defaultVcpus: num(out["defaultVcpus"]),
    defaultMaxVcpus: num(out["defaultMaxVcpus"]),
    defaultMemory: num(out["defaultMemory"]),
    memorySlots: num(out["memorySlots"]),
    kernelParams: strs(out["kernelParams"]),
    accelerator: accel(out["accelerator"]),
    enableDebug: out["enableDebug"] === true,
    hotplugPorts: num(out["hotplugPorts"]),
    seccomp: out["seccomp"] === true,
    confine: out["confine"] === true,
    vmUser: out["vmUser"] === true,
    sharedMemory: out["sharedMemory"] === true,
    agentVsockPort: num(out["agentVsockPort"]),
    startTimeoutMs: num(out["startTimeoutMs"]),
    consoleLogMaxBytes: num(out["consoleLogMaxBytes"]),
    tcgTbSizeMiB: num(out["tcgTbSizeMiB"]),
    freePageReporting: out["freePageReporting"] === true,
  };
  return c;
}

function check(rawKey: string, key: keyof QemuConfig, v: unknown): unknown {
  switch (key) {
    case "path":
    case "cpuModel":
      if (typeof v !== "string") throw bad(rawKey, v, "must be a string");
      if (key === "path" && v === "") throw bad(rawKey, v, "must not be empty");
      return v;
    case "machineType":
      if (v !== "q35" && v !== "microvm" && v !== "pc") {
        throw bad(rawKey, v, 'must be "q35", "pc" or "microvm"');
      }
      return v;
    case "accelerator":
      if (v !== "auto" && v !== "kvm" && v !== "tcg") throw bad(rawKey, v, 'must be "auto", "kvm" or "tcg"');
      return v;
    case "enableDebug":
    case "seccomp":
    case "confine":
    case "vmUser":
    case "sharedMemory":
    case "freePageReporting":
      if (typeof v !== "boolean") throw bad(rawKey, v, "must be a boolean");
      return v;
    case "kernelParams":
      if (typeof v === "string") return v.split(/\s+/).filter((s) => s !== "");
      if (Array.isArray(v) && v.every((s) => typeof s === "string")) return v;
      throw bad(rawKey, v, "must be a string or an array of strings");
    default: {
      const min = key === "defaultMemory"
        ? 64
        : key === "consoleLogMaxBytes"
        ? 65536
        : key === "defaultVcpus" || key === "startTimeoutMs"
        ? 1
        : 0;
      const max = key === "hotplugPorts"
        ? 32
        : key === "memorySlots"
        ? 256
        : key === "tcgTbSizeMiB"
        ? 4096
        : Number.MAX_SAFE_INTEGER;
      if (typeof v !== "number" || !Number.isInteger(v)) throw bad(rawKey, v, "must be an integer");
      if (v < min) throw bad(rawKey, v, `must be >= ${min}`);
      if (v > max) throw bad(rawKey, v, `must be <= ${max}`);
      return v;
    }
  }
}

function bad(key: string, v: unknown, why: string): ConfigError {
  return new ConfigError(
    "InvalidArgument",
    `Invalid config key "hypervisor.qemu.${key}": it ${why}: current value is ${
      JSON.stringify(v) ?? String(v)
    }`,
  );
}

function str(v: unknown): string {
  return typeof v === "string" ? v : "";
}
function num(v: unknown): number {
  return typeof v === "number" ? v : 0;
}
function strs(v: unknown): readonly string[] {
  return Array.isArray(v) ? v.filter((s): s is string => typeof s === "string") : [];
}
function machine(v: unknown): MachineType {
  return v === "microvm" || v === "pc" ? v : "q35";
}
function accel(v: unknown): "auto" | "kvm" | "tcg" {
  return v === "kvm" || v === "tcg" ? v : "auto";
}
