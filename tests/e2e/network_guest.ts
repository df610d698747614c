/**
 * A small guest for the network end-to-end tests, built on demand and cached under
 * `<repo>/.cache/network-test-guest/<hash>/`: Debian's cloud kernel (apt-get download), the virtio
 * and virtio-net modules, busybox-static, and a shell `/init` that configures the NIC whose MAC is
 * given by `cocoon.net=<mac>,<cidr>,<gateway>,<mtu>` on the kernel command line, serves
 * `/www/index.html` (and a 16 MiB `/www/big`) with busybox httpd on port 80, discards what is sent
 * to TCP port 5001 (for throughput), then pings the gateway and reports the result.
 * With `cocoon.hot=<cidr>` every NIC hot-plugged later gets that address and is reported.
 * This stands in for the guest agent's UpdateInterface/UpdateRoutes until the sandbox core exists.
 *
 * @module
 */

export const NET_READY = "NET_GUEST_READY";
export const NET_PING_OK = "NET_GUEST_PING_OK";
export const PAGE_MARKER = "cocoon-net-page";
/** Printed for each NIC that appears after boot (hot-plugged); it gets the `cocoon.hot=<cidr>` address. */
export const NET_HOT_NIC = "NET_GUEST_HOT_NIC";

export interface NetTestGuest {
  readonly kernel: string;
  readonly initrd: string;
}

const REPO = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");
const CACHE = `${REPO}/.cache/network-test-guest`;
const MODULES = [
  "virtio_ring",
  "virtio",
  "virtio_pci_modern_dev",
  "virtio_pci_legacy_dev",
  "virtio_pci",
  "failover",
  "net_failover",
  "virtio_net",
];

const INIT = `#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in ${MODULES.join(" ")}; do insmod /lib/modules/$m.ko 2>/dev/null; done
ip link set lo up
set -- $(sed -n 's/.*cocoon[.]net=\\([^ ]*\\).*/\\1/p' /proc/cmdline | tr , ' ')
mac=$1 cidr=$2 gw=$3 mtu=$4
dev=""
i=0
while [ -z "$dev" ] && [ $i -lt 100 ]; do
  for p in /sys/class/net/*; do [ "$(cat $p/address)" = "$mac" ] && dev=\${p##*/}; done
  i=$((i + 1))
  sleep 0.1
done
[ -z "$dev" ] && echo "NET_GUEST_NO_NIC $mac: $(ls /sys/class/net)"
ip link set "$dev" mtu "$mtu"
ip addr add "$cidr" dev "$dev"
ip link set "$dev" up
[ -n "$gw" ] && ip route add default via "$gw"
mkdir -p /www
echo "${PAGE_MARKER} $mac" > /www/index.html
httpd -p 80 -h /www
dd if=/dev/zero of=/www/big bs=1M count=16 2>/dev/null
(while :; do nc -l -p 5001 > /dev/null; done) &
hot=$(sed -n 's/.*cocoon[.]hot=\\([^ ]*\\).*/\\1/p' /proc/cmdline)
if [ -n "$hot" ]; then
  (
    while :; do
      for p in /sys/class/net/*; do
        n=\${p##*/}
        if [ "$n" = lo ] || [ "$n" = "$dev" ] || [ -f "/tmp/seen.$n" ]; then continue; fi
        touch "/tmp/seen.$n"
        ip addr add "$hot" dev "$n"
        ip link set "$n" up
        echo "${NET_HOT_NIC} $n $(cat $p/address)"
      done
      sleep 0.3
    done
  ) &
fi
echo "${NET_READY} dev=$dev $(ip -o addr show dev $dev | grep 'inet ' | tr -s ' ' | cut -d' ' -f4)"
if ping -c 3 -W 3 "$gw" > /dev/null; then echo "${NET_PING_OK}"; else echo NET_GUEST_PING_FAIL; fi
while :; do sleep 1000; done
`;

async function run(cmd: string, args: string[], cwd?: string): Promise<string> {
  const out = await new Deno.Command(cmd, { args, ...(cwd ? { cwd } : {}), stdout: "piped", stderr: "piped" })
    .output();
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr).trim().slice(-400);
    throw new Error(`Cannot build the network test guest: ${cmd} ${args.join(" ")} failed: ${err}`);
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

async function find(dir: string, name: string): Promise<string | undefined> {
  for await (const e of Deno.readDir(dir)) {
    const p = `${dir}/${e.name}`;
    if (e.isFile && e.name === name) return p;
    if (e.isDirectory) {
      const f = await find(p, name);
      if (f !== undefined) return f;
    }
  }
  return undefined;
}

async function kernelPackage(): Promise<string> {
  const look = async () =>
    /Depends: (linux-image-\S+-cloud-amd64)\b/.exec(
      await run("apt-cache", ["depends", "linux-image-cloud-amd64"]).catch(() => ""),
    )?.[1];
  let pkg = await look();
  if (pkg === undefined) {
    await run("apt-get", ["update", "-qq"]);
    pkg = await look();
  }
  if (pkg === undefined) {
    throw new Error("Cannot build the network test guest: no linux-image-cloud-amd64 package");
  }
  return pkg;
}

/** Returns the cached guest, building it first when missing. */
export async function ensureNetTestGuest(): Promise<NetTestGuest> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(INIT + MODULES.join()));
  const hash = [...new Uint8Array(digest)].slice(0, 6).map((b) => b.toString(16).padStart(2, "0")).join("");
  const dir = `${CACHE}/${hash}`;
  const guest = { kernel: `${dir}/vmlinuz`, initrd: `${dir}/initrd.gz` };
  if (await exists(guest.initrd)) return guest;
  await Deno.mkdir(CACHE, { recursive: true });
  const tmp = await Deno.makeTempDir({ dir: CACHE, prefix: ".build-" });
  try {
    const pkg = await kernelPackage();
    await run("apt-get", ["download", "-qq", pkg], tmp);
    const deb = [...Deno.readDirSync(tmp)].find((e) => e.name.endsWith(".deb"))?.name;
    if (deb === undefined) throw new Error(`Cannot build the network test guest: ${pkg} did not download`);
    await run("dpkg-deb", ["-x", `${tmp}/${deb}`, `${tmp}/x`]);
    const root = `${tmp}/root`;
    const out = `${tmp}/out`;
    await Deno.mkdir(out);
    for (const d of ["bin", "dev", "proc", "sys", "lib/modules", "tmp", "www"]) {
      await Deno.mkdir(`${root}/${d}`, { recursive: true });
    }
    await Deno.copyFile("/bin/busybox", `${root}/bin/busybox`);
    await Deno.chmod(`${root}/bin/busybox`, 0o755);
    await Deno.writeTextFile(`${root}/init`, INIT, { mode: 0o755 });
    for (const m of MODULES) {
      const f = await find(`${tmp}/x/lib/modules`, `${m}.ko`);
      if (f === undefined) {
        throw new Error(`Cannot build the network test guest: module "${m}" is not in ${pkg}`);
      }
      await Deno.copyFile(f, `${root}/lib/modules/${m}.ko`);
    }
    const vmlinuz = [...Deno.readDirSync(`${tmp}/x/boot`)].find((e) => e.name.startsWith("vmlinuz-"))?.name;
    if (vmlinuz === undefined) throw new Error(`Cannot build the network test guest: no vmlinuz in ${pkg}`);
    await Deno.copyFile(`${tmp}/x/boot/${vmlinuz}`, `${out}/vmlinuz`);
    await run("sh", ["-c", `find . | cpio -o -H newc --quiet | gzip -1 > "${out}/initrd.gz"`], root);
    try {
      await Deno.rename(out, dir);
    } catch (e) {
      if (!(await exists(guest.initrd))) throw e; // another worker built it first
    }
    return guest;
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}
