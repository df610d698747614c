/**
 * Types of the guest image builder: options, the manifest written beside the image (validated when
 * read back), and what `buildGuestImage` / `guestImageInfo` return.
 *
 * @module
 */
import * as v from "valibot";

/** `erofs`: small initrd + read-only userland disk image; `initrd`: everything in the initrd. */
export type GuestMode = "erofs" | "initrd";

/** Kernel package flavour: `cloud` (small, no 9p) or `generic` (has 9p). */
export type KernelFlavour = "cloud" | "generic";

/**
 * The default kernel flavour: `generic`, because Debian's cloud kernels (6.1 and 6.12) are built
 * without 9p (CONFIG_NET_9P unset) and 9p is the default `shared_fs` for directory rootfs.
 */
export const DEFAULT_KERNEL_FLAVOUR: KernelFlavour = "generic";

/** Which kernel an image boots: see {@link BuildGuestImageOptions.kernel}. */
export type KernelChoice = "tuned" | "debian" | "auto";

/** Receives build progress. */
export interface ProgressSink {
  /** A step begins (the previous one, if any, is done). */
  step(name: string): void;
  /** A note about the current step. */
  note(msg: string): void;
  /** The build finished (or found its result cached). */
  done(msg: string): void;
}

/** What the agent payload is: the bundle run by the deno runtime, or a compiled agent. */
export type AgentPayload =
  | { kind: "bundle"; bundle: string; deno: string }
  | { kind: "compiled"; binary: string };

export interface BuildGuestImageOptions {
  /** Root of the image cache (default /var/lib/cocoon/guest); images go to `<outDir>/<hash>/`. */
  outDir?: string;
  /** The agent as one JS file (default: `deno bundle agent/main.ts`). */
  agentBundle?: string;
  /** The deno runtime that runs the bundle (default: node_modules/deno/deno, else this deno). */
  denoBinary?: string;
  /** A compiled agent (`deno compile`); used instead of bundle + runtime. */
  agentBinary?: string;
  mode?: GuestMode;
  /**
   * Which kernel: `tuned` (built from Debian's kernel source with Cocoon's options; built when
   * missing, about a quarter of an hour on 2 cores), `debian` (Debian's prebuilt kernel package),
   * or `auto` (default: the tuned one when it is built already, else Debian's).
   */
  kernel?: KernelChoice;
  /** Root of the tuned kernel cache (default /var/cache/cocoon/kernels). */
  kernelCache?: string;
  /** Debian's kernel flavour (implies `kernel: "debian"`). */
  kernelFlavour?: KernelFlavour;
  /** A kernel package name, instead of the newest of the flavour (implies `kernel: "debian"`). */
  kernelPackage?: string;
  /** Kernel modules to carry (default DEFAULT_GUEST_MODULES). */
  modules?: readonly string[];
  /** Where `.deb` files are cached (default /var/cache/cocoon/debs). */
  debCache?: string;
  /** Initrd compression (default gzip). */
  compression?: "gzip" | "none";
  /** Run `apt-get update` first when the apt lists are older than this (default 7 days). */
  aptMaxAgeMs?: number;
  /** Point `<outDir>/current` at the result (default true). */
  setCurrent?: boolean;
  signal?: AbortSignal;
  progress?: ProgressSink;
}

const FileInfo = v.object({ size: v.number(), sha256: v.string() });
const Pkg = v.object({ name: v.string(), version: v.string() });

/** The manifest.json schema. */
export const GuestManifestSchema = v.object({
  schema: v.literal(1),
  hash: v.string(),
  builderVersion: v.string(),
  createdAt: v.string(),
  mode: v.picklist(["erofs", "initrd"]),
  kernel: v.object({ package: v.string(), version: v.string(), release: v.string(), flavour: v.string() }),
  packages: v.array(Pkg),
  modules: v.object({
    load: v.array(v.string()),
    builtin: v.array(v.string()),
    missing: v.array(v.string()),
    files: v.number(),
  }),
  agent: v.object({
    kind: v.picklist(["bundle", "compiled"]),
    sha256: v.string(),
    size: v.number(),
    runtime: v.nullable(v.object({ name: v.string(), version: v.string(), size: v.number() })),
  }),
  libraries: v.array(v.object({ name: v.string(), size: v.number() })),
  files: v.object({ vmlinuz: FileInfo, initrd: FileInfo, rootfs: v.nullable(FileInfo) }),
  /** Kernel parameters the image needs in addition to the hypervisor's own (console=...). */
  cmdline: v.string(),
  inputs: v.record(v.string(), v.string()),
});

export type GuestManifest = v.InferOutput<typeof GuestManifestSchema>;

/** A built (or cached) guest image. */
export interface GuestImage {
  dir: string;
  hash: string;
  kernel: string;
  initrd: string;
  /** The read-only userland image (erofs mode), attach read-only with serial "cocoon-userland". */
  rootfs: string | null;
  manifest: GuestManifest;
  /** False when the image came from the cache without work. */
  built: boolean;
}

/** What `cocoon guest info` shows. */
export interface GuestImageInfo {
  dir: string;
  manifest: GuestManifest;
  files: { name: string; path: string; size: number }[];
  totalSize: number;
}
