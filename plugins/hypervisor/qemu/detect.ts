/**
 * Accelerator detection: KVM only where ordinary guests run, else TCG.
 *
 * A PVM host (`/sys/module/kvm_pvm`) exposes /dev/kvm, but standard guest kernels hang under it,
 * so it counts as "no KVM". Deno cannot issue `KVM_GET_API_VERSION`, so the check is: a KVM vendor
 * module is loaded (kvm_intel or kvm_amd) and /dev/kvm opens read-write.
 *
 * @module
 */
import type { Accelerator } from "../../types.ts";

export interface AcceleratorChoice {
  readonly accel: Accelerator;
  /** Why, in words, for `cocoon check`. */
  readonly reason: string;
  /** True when the host's KVM is PVM (not usable for ordinary guests). */
  readonly pvm: boolean;
}

/** What detection looks at; injectable for tests. */
export interface DetectProbe {
  exists(path: string): Promise<boolean>;
  /** Opens read-write and closes; resolves with the error's name, or "" on success. */
  openRw(path: string): Promise<string>;
}

export const hostProbe: DetectProbe = {
  async exists(path) {
    try {
      await Deno.stat(path);
      return true;
    } catch {
      return false;
    }
  },
  async openRw(path) {
    try {
      const f = await Deno.open(path, { read: true, write: true });
      f.close();
      return "";
    } catch (e) {
      return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    }
  },
};

/**
 * Picks the accelerator for this host.
 *
 * @example
 * ```ts
 * const { accel, reason } = await detectAccelerator();
 * ```
 */
export async function detectAccelerator(probe: DetectProbe = hostProbe): Promise<AcceleratorChoice> {
  if (await probe.exists("/sys/module/kvm_pvm")) {
    return {
      accel: "tcg",
      pvm: true,
      reason: "KVM is PVM (/sys/module/kvm_pvm): ordinary guests hang under it, using TCG",
    };
  }
  const intel = await probe.exists("/sys/module/kvm_intel");
  const amd = await probe.exists("/sys/module/kvm_amd");
  if (!intel && !amd) {
    return {
      accel: "tcg",
      pvm: false,
      reason: "no KVM vendor module (kvm_intel, kvm_amd) is loaded: using TCG",
    };
  }
  const err = await probe.openRw("/dev/kvm");
  if (err !== "") {
    return { accel: "tcg", pvm: false, reason: `/dev/kvm does not open read-write (${err}): using TCG` };
  }
  return { accel: "kvm", pvm: false, reason: `KVM (${intel ? "kvm_intel" : "kvm_amd"}) and /dev/kvm usable` };
}

/** Resolves "auto" to a concrete accelerator; "kvm"/"tcg" are taken as given. */
export async function resolveAccelerator(
  wanted: "auto" | Accelerator,
  probe: DetectProbe = hostProbe,
): Promise<AcceleratorChoice> {
  if (wanted !== "auto") {
    return { accel: wanted, pvm: false, reason: `accelerator "${wanted}" set in configuration` };
  }
  return await detectAccelerator(probe);
}
