/**
 * The qemu plugin's identity and the Deno permissions it needs.
 *
 * @module
 */
import type { PluginManifest } from "../../types.ts";
import { VM_USER_CLAIMS } from "../../../runtime/sys/vm_user.ts";

/** Directories the plugin reads and writes VM state in (sockets, pidfiles, console logs). */
const QEMU_STATE_DIRS: readonly string[] = ["/run/cocoon", "/var/lib/cocoon", "/tmp"];

export const manifest: PluginManifest<"hypervisor"> = {
  kind: "hypervisor",
  name: "qemu",
  apiVersion: 1,
  description: "QEMU (q35, KVM or TCG) driven over QMP; agent over virtio-serial or vsock",
  permissions: {
    // setsid starts QEMU in its own session so it outlives the starting process
    // kill: the last resort of stop (Deno.kill needs unrestricted run permission); ps: liveness and
    // identity of the QEMU pid (Deno 2 wants --allow-all to read /proc/<pid>)
    // nsenter: QEMU runs inside the pod's network namespace (taps are opened by name there); sh opens
    // macvtap character devices on the descriptors QEMU inherits
    // perl: the loader of the no-privileged-files seccomp filter QEMU runs under
    run: ["qemu-system-x86_64", "setsid", "kill", "ps", "nsenter", "sh", "perl"],
    // /sys/module + /dev/kvm: accelerator detection
    // /run/cocoon-vm-users: the host-wide claims of per-VM uids (runtime/sys/vm_user.ts)
    read: ["/sys/module", "/dev/kvm", VM_USER_CLAIMS, ...QEMU_STATE_DIRS],
    write: ["/dev/kvm", VM_USER_CLAIMS, ...QEMU_STATE_DIRS],
    // QMP and agent unix sockets: Deno 2.9 scopes "unix:" net permission to exact paths only, and
    // the paths depend on each VM's state directory
    net: true,
  },
  features: [
    "kvm",
    "tcg",
    "hotplug-block",
    "hotplug-net",
    "hotplug-cpu",
    "hotplug-memory",
    "virtio-serial",
    "vsock",
    "9p",
    "virtio-fs",
  ],
};
