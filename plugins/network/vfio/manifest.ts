import type { PluginManifest } from "../../types.ts";

export const manifest: PluginManifest<"network"> = {
  kind: "network",
  name: "vfio",
  apiVersion: 1,
  description: "PCI network devices (e.g. SR-IOV VFs) bound to vfio-pci and passed through to the VM",
  permissions: {
    // nsenter+unshare give a private sysfs mount of the pod netns, to find an interface's PCI device;
    // ls/readlink/sh read and write sysfs (Deno wants --allow-all to read /sys/kernel itself).
    run: ["nsenter", "ip", "unshare", "ls", "readlink", "sh"],
  },
  features: ["vfio-pci"],
};
