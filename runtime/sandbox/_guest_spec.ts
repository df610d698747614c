/**
 * The OCI spec as the guest's OCI runtime sees it: root and bind sources rewritten to guest paths,
 * host namespace paths and host hooks removed (they name host objects). Pure.
 *
 * @module
 */
import type { OciMount } from "../../plugins/types.ts";
import type { JsonObject } from "../oci/spec.ts";
import { isRecord } from "../sys/files.ts";

/** Whether an OCI mount is a bind mount of a host path. */
export function isBindMount(m: OciMount): boolean {
  return m.type === "bind" || (m.options ?? []).some((o) => o === "bind" || o === "rbind");
}

/** Filesystem types of disks: an image file mounted with one of them is attached as a disk. */
const DISK_FS_TYPES: ReadonlySet<string> = new Set(["ext2", "ext3", "ext4", "xfs", "btrfs"]);

/**
 * Whether the sandbox attaches the mount's source as a disk (virtio-blk): a host block device
 * mounted outside /dev (a bind of /dev/sdb at /data), or an image file mounted with a disk type
 * (`{"type": "ext4", "source": "/srv/vol.img"}`). `st` is the source's stat. Pure.
 */
export function isDiskMount(m: OciMount, st: { isFile: boolean; isBlockDevice: boolean | null }): boolean {
  if (m.source === undefined || !m.source.startsWith("/")) return false;
  if (m.destination === "/dev" || m.destination.startsWith("/dev/")) return false;
  if (st.isBlockDevice === true) return isBindMount(m) || DISK_FS_TYPES.has(m.type ?? "");
  return st.isFile && DISK_FS_TYPES.has(m.type ?? "");
}

/** Bind mounts of host device nodes stay as they are: the guest has its own /dev. */
export function isDeviceBind(m: OciMount): boolean {
  return m.source !== undefined && (m.source === "/dev" || m.source.startsWith("/dev/"));
}

/**
 * Builds the guest spec from the host spec document. `mountSources[i]` replaces the source of
 * `mounts[i]` (undefined keeps it).
 */
export function guestSpec(
  raw: JsonObject,
  opts: { rootPath: string; mounts: readonly OciMount[]; mountSources: readonly (string | undefined)[] },
): JsonObject {
  const out: Record<string, unknown> = { ...raw };
  const root = isRecord(raw["root"]) ? raw["root"] : {};
  out["root"] = { ...root, path: opts.rootPath };
  const rawMounts = Array.isArray(raw["mounts"]) ? raw["mounts"] : [];
  out["mounts"] = opts.mounts.map((m, i) => {
    const base = isRecord(rawMounts[i]) ? rawMounts[i] : {};
    const src = opts.mountSources[i];
    const next: Record<string, unknown> = { ...base, destination: m.destination };
    if (src !== undefined) {
      next["source"] = src;
      next["type"] = "bind";
      const o = m.options ?? [];
      next["options"] = o.some((x) => x === "bind" || x === "rbind") ? o : ["rbind", ...o];
    }
    return next;
  });
  // Without a /dev mount the guest's runtime would make the device nodes in the rootfs, i.e. on
  // the host through the share, which Cocoon refuses (no device nodes from the guest): they go in
  // a guest tmpfs instead, as every runc default spec and Docker and podman set up anyway.
  if (!opts.mounts.some((m) => m.destination.replace(/\/+$/, "") === "/dev")) {
    (out["mounts"] as unknown[]).unshift({
      destination: "/dev",
      type: "tmpfs",
      source: "tmpfs",
      options: ["nosuid", "strictatime", "mode=755", "size=65536k"],
    });
  }
  delete out["hooks"];
  if (isRecord(raw["linux"])) {
    const linux: Record<string, unknown> = { ...raw["linux"] };
    const ns = Array.isArray(linux["namespaces"]) ? linux["namespaces"] : [];
    // A namespace given by path is a host object (the pod's netns, a pause container's ipc...):
    // in the guest the container shares the VM's one instead. The VM's network is the pod's
    // network, so every container shares the guest's network namespace (a new one would hold only lo).
    const kept = ns.filter((n) =>
      !(isRecord(n) && ((typeof n["path"] === "string" && n["path"] !== "") || n["type"] === "network"))
    );
    // The guest is cgroup v2: the container gets a cgroup namespace of its own, as Docker and
    // podman give one on a v2 host, so /sys/fs/cgroup shows its own limits (memory.max for -m).
    // A caller on a v1 or hybrid host leaves it out because the host could not honour it.
    if (!kept.some((n) => isRecord(n) && n["type"] === "cgroup")) kept.push({ type: "cgroup" });
    linux["namespaces"] = kept;
    if (isRecord(linux["resources"])) linux["resources"] = guestResources(linux["resources"]);
    // net.* sysctls stay: the guest agent applies them to the VM's network namespace, which is the
    // pod's (agent/container/create.ts), as runc would in the pod's netns.
    out["linux"] = linux;
  }
  return out;
}

/**
 * `linux.resources` as the guest can take them (at create and at update). Pure:
 * - host CPU and NUMA node numbers of a cpuset mean nothing in the VM (whose size accounts for it);
 * - kernel memory limits (`kernel`, `kernelTCP`) do not exist on cgroup v2, the guest's: crun
 *   refuses them there ("cannot set kernel memory with cgroupv2"), and Docker 20.10 sends them.
 */
export function guestResources(resources: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...resources };
  if (isRecord(out["cpu"])) {
    const { cpus: _cpus, mems: _mems, ...cpu } = out["cpu"];
    out["cpu"] = cpu;
  }
  if (isRecord(out["memory"])) {
    const { kernel: _kernel, kernelTCP: _tcp, ...memory } = out["memory"];
    out["memory"] = memory;
  }
  return out;
}
