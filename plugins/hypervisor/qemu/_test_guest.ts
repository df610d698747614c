/**
 * Test helper: a tiny guest for real-QEMU tests of this plugin, built on demand and cached under
 * `<repo>/.cache/qemu-test-guest/`. The kernel is Debian's cloud kernel (fetched with
 * `apt-get download`); the initrd holds busybox-static, the virtio modules and a shell `/init`
 * that prints {@link GUEST_MARKER}, reports block devices, onlines hotplugged CPUs (as the agent
 * would), echoes lines on the agent port and powers off on the ACPI power button.
 *
 * @module
 */
import { HypervisorError } from "../../../runtime/errors.ts";

export const GUEST_MARKER = "COCOON_TEST_GUEST_READY";

export interface TestGuest {
  readonly kernel: string;
  readonly initrd: string;
}

const REPO = new URL("../../../", import.meta.url).pathname.replace(/\/$/, "");
const CACHE = `${REPO}/.cache/qemu-test-guest`;
const MODULES = [
  "virtio_ring",
  "virtio",
  "virtio_pci_modern_dev",
  "virtio_pci_legacy_dev",
  "virtio_pci",
  "virtio_blk",
  "virtio_console",
  "button",
  "evdev",
];

const INIT = `#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in ${MODULES.join(" ")}; do insmod /lib/modules/$m.ko 2>/dev/null; done
mkdir -p /etc/acpi/PWRF
printf '#!/bin/sh\\necho GUEST_POWER_BUTTON\\npoweroff -f\\n' > /etc/acpi/PWRF/00000080
chmod +x /etc/acpi/PWRF/00000080
mkdir -p /var/log /var/run
acpid -c /etc/acpi -l /var/log/acpid.log || echo GUEST_NO_ACPID
echo "${GUEST_MARKER} cpus=$(nproc)"
(
  dev=""
  while [ -z "$dev" ]; do
    for p in /sys/class/virtio-ports/*; do
      [ -f "$p/name" ] && [ "$(cat $p/name)" = cocoon.agent ] && dev=/dev/\${p##*/}
    done
    sleep 0.2
  done
  exec 3<>$dev
  while read -r l <&3; do echo "ECHO:$l" >&3; done
) &
prev="-"
while :; do
  cur="$(ls /sys/block | tr '\\n' ' ')"
  [ "$cur" != "$prev" ] && echo "BLOCKS: $cur"
  prev="$cur"
  for c in /sys/devices/system/cpu/cpu*/online; do
    [ -f "$c" ] && [ "$(cat $c)" = 0 ] && echo 1 > $c && echo "ONLINED: $c"
  done
  sleep 0.3
done
`;

async function run(cmd: string, args: string[], cwd?: string): Promise<string> {
  const out = await new Deno.Command(cmd, { args, ...(cwd ? { cwd } : {}), stdout: "piped", stderr: "piped" })
    .output();
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr).trim().slice(-400);
    throw new HypervisorError(
      "Internal",
      `Cannot build the test guest: ${cmd} ${args.join(" ")} failed: ${err}`,
    );
  }
  return new TextDecoder().decode(out.stdout);
}

async function exists(p: string): Promise<boolean> {
  try {
    await Deno.stat(p);
    return true;
  } catch {
    return false;
  }
}

async function kernelPackage(): Promise<string> {
  const find = async (): Promise<string | undefined> => {
    const out = await run("apt-cache", ["depends", "linux-image-cloud-amd64"]).catch(() => "");
    return /Depends: (linux-image-\S+-cloud-amd64)\b/.exec(out)?.[1];
  };
  let pkg = await find();
  if (pkg === undefined) {
    await run("apt-get", ["update", "-qq"]);
    pkg = await find();
  }
  if (pkg === undefined) {
    throw new HypervisorError("NotFound", "Cannot build the test guest: no linux-image-cloud-amd64 package");
  }
  return pkg;
}

async function findFile(dir: string, name: string): Promise<string | undefined> {
  for await (const e of Deno.readDir(dir)) {
    const p = `${dir}/${e.name}`;
    if (e.isFile && e.name === name) return p;
    if (e.isDirectory) {
      const f = await findFile(p, name);
      if (f) return f;
    }
  }
  return undefined;
}

/** Returns the cached test kernel and initrd, building them first when missing. */
export async function ensureTestGuest(): Promise<TestGuest> {
  const hash = Array.from(
    new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(INIT))),
  )
    .slice(0, 6).map((b) => b.toString(16).padStart(2, "0")).join("");
  const dir = `${CACHE}/${hash}`;
  const guest = { kernel: `${dir}/vmlinuz`, initrd: `${dir}/initrd.gz` };
  if (await exists(guest.initrd)) return guest;
  await Deno.mkdir(CACHE, { recursive: true });
  const tmp = await Deno.makeTempDir({ dir: CACHE, prefix: ".build-" });
  try {
    const pkg = await kernelPackage();
    await run("apt-get", ["download", "-qq", pkg], tmp);
    const deb = [...Deno.readDirSync(tmp)].find((e) => e.name.endsWith(".deb"))?.name;
    if (deb === undefined) {
      throw new HypervisorError("NotFound", `Cannot build the test guest: ${pkg} did not download`);
    }
    await run("dpkg-deb", ["-x", `${tmp}/${deb}`, `${tmp}/x`]);
    const out = `${tmp}/out`;
    const root = `${tmp}/root`;
    await Deno.mkdir(out);
    for (const d of ["bin", "dev", "proc", "sys", "etc", "lib/modules", "tmp"]) {
      await Deno.mkdir(`${root}/${d}`, { recursive: true });
    }
    await Deno.copyFile("/bin/busybox", `${root}/bin/busybox`);
    await Deno.chmod(`${root}/bin/busybox`, 0o755);
    await Deno.writeTextFile(`${root}/init`, INIT, { mode: 0o755 });
    for (const m of MODULES) {
      const f = await findFile(`${tmp}/x/lib/modules`, `${m}.ko`);
      if (f === undefined) {
        throw new HypervisorError("NotFound", `Cannot build the test guest: module "${m}" not in ${pkg}`);
      }
      await Deno.copyFile(f, `${root}/lib/modules/${m}.ko`);
    }
    const vmlinuz = [...Deno.readDirSync(`${tmp}/x/boot`)].find((e) => e.name.startsWith("vmlinuz-"))?.name;
    if (vmlinuz === undefined) {
      throw new HypervisorError("NotFound", `Cannot build the test guest: no vmlinuz in ${pkg}`);
    }
    await Deno.copyFile(`${tmp}/x/boot/${vmlinuz}`, `${out}/vmlinuz`);
    await run("sh", ["-c", `find . | cpio -o -H newc --quiet | gzip -1 > "${out}/initrd.gz"`], root);
    try {
      await Deno.rename(out, dir);
    } catch (e) {
      if (!(await exists(guest.initrd))) throw e; // a parallel build won the race otherwise
    }
    return guest;
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}
