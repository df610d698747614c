/**
 * Shared set-up of the shim end-to-end tests: can this host boot guests, the 9p-capable guest
 * image (generic kernel, built once and cached by content hash), a configuration file for the
 * daemon, PSS readings.
 *
 * @module
 */
import { buildGuestImage, type GuestImage } from "../../runtime/guest/mod.ts";

export async function hostCanBoot(): Promise<boolean> {
  for (const bin of ["qemu-system-x86_64", "apt-get", "mkfs.erofs", "depmod", "mount", "containerd", "ctr"]) {
    const r = await new Deno.Command("sh", {
      args: ["-c", `command -v ${bin}`],
      stdout: "null",
      stderr: "null",
    })
      .output().catch(() => null);
    if (r === null || !r.success) return false;
  }
  return Deno.uid() === 0;
}

export function guestImage(): Promise<GuestImage> {
  return buildGuestImage({ setCurrent: false });
}

/** A configuration file booting `image` with state under `dir`. */
export async function writeConfig(dir: string, image: GuestImage): Promise<string> {
  const path = `${dir}/cocoon.toml`;
  const accel = Deno.env.get("COCOON_TEST_ACCEL") === "kvm" ? "kvm" : "tcg";
  await Deno.writeTextFile(
    path,
    `[hypervisor.qemu]
kernel = ${JSON.stringify(image.kernel)}
initrd = ${JSON.stringify(image.initrd)}
image = ${JSON.stringify(image.rootfs ?? "")}
accelerator = "${accel}"
default_memory = 512
default_maxmemory = 1024
default_maxvcpus = 2
shared_fs = "virtio-9p"

[runtime]
state_dir = ${JSON.stringify(`${dir}/run`)}
store = "fs"
internetworking_model = "none"

[agent]
dial_timeout = 90
`,
  );
  return path;
}

/** Proportional set size of a process, KiB (0 when it is gone). */
export async function pssKiB(pid: number): Promise<number> {
  const text = await Deno.readTextFile(`/proc/${pid}/smaps_rollup`).catch(() => "");
  return Number(/^Pss:\s+(\d+)/m.exec(text)?.[1] ?? 0);
}

/** `ctr run --rootfs` writes no environment (no image config): give the process a PATH. */
export const PATH = ["--env", "PATH=/bin:/sbin:/usr/bin"];
