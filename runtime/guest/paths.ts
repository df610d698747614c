/**
 * Default locations of the guest image and its caches.
 *
 * @module
 */
import { join } from "node:path";

export interface GuestImagePaths {
  /** Root of the image cache: one folder per content hash, plus `current`. */
  root: string;
  /** The image the default config uses (a symlink to `<root>/<hash>`). */
  current: string;
  kernel: string;
  initrd: string;
  rootfs: string;
  manifest: string;
  /** Cached `.deb` files. */
  debCache: string;
}

export const DEFAULT_GUEST_ROOT = "/var/lib/cocoon/guest";
export const DEFAULT_DEB_CACHE = "/var/cache/cocoon/debs";

/** File names inside one image folder. */
export const IMAGE_FILES = {
  kernel: "vmlinuz",
  initrd: "initrd.img",
  rootfs: "rootfs.erofs",
  manifest: "manifest.json",
} as const;

/** The paths of the current image under `root` (default /var/lib/cocoon/guest). */
export function defaultGuestImagePaths(root: string = DEFAULT_GUEST_ROOT): GuestImagePaths {
  const current = join(root, "current");
  return {
    root,
    current,
    kernel: join(current, IMAGE_FILES.kernel),
    initrd: join(current, IMAGE_FILES.initrd),
    rootfs: join(current, IMAGE_FILES.rootfs),
    manifest: join(current, IMAGE_FILES.manifest),
    debCache: DEFAULT_DEB_CACHE,
  };
}
