/**
 * Guest image builder: kernel + initrd (+ read-only erofs userland) from Debian packages and the
 * Cocoon agent, cached by content hash. See README.md in this folder.
 *
 * @module
 */
export { BUILDER_VERSION, buildGuestImage } from "./build.ts";
export { formatGuestImageInfo, guestImageInfo, readManifest } from "./info.ts";
export { DEFAULT_DEB_CACHE, DEFAULT_GUEST_ROOT, defaultGuestImagePaths, IMAGE_FILES } from "./paths.ts";
export type { GuestImagePaths } from "./paths.ts";
export { silentProgress, stderrProgress, textProgress } from "./progress.ts";
export { DEFAULT_GUEST_MODULES } from "./modules.ts";
export { DEFAULT_KERNEL_FLAVOUR } from "./types.ts";
export { pruneGuestImages, type PruneOptions } from "./prune.ts";
export type {
  AgentPayload,
  BuildGuestImageOptions,
  GuestImage,
  GuestImageInfo,
  GuestManifest,
  GuestMode,
  KernelChoice,
  KernelFlavour,
  ProgressSink,
} from "./types.ts";
export {
  buildTunedKernel,
  DEFAULT_KERNEL_CACHE,
  findTunedKernel,
  type TunedKernel,
  type TunedKernelOptions,
} from "./tuned/build.ts";
