import assert from "node:assert/strict";
import { configFragment, missingOptions, parseKernelConfig, TUNED_OPTIONS } from "./config.ts";

Deno.test("tuned kernel options: a fragment merge_config.sh reads, n as 'is not set'", () => {
  const frag = configFragment([["VIRTIO_BLK", "y"], ["SOUND", "n"], ["LOCALVERSION", '"-cocoon"']]);
  assert.equal(frag, 'CONFIG_VIRTIO_BLK=y\n# CONFIG_SOUND is not set\nCONFIG_LOCALVERSION="-cocoon"\n');
});

Deno.test("tuned kernel options: what olddefconfig dropped is named with what it became", () => {
  const final = "CONFIG_VIRTIO_BLK=y\n# CONFIG_9P_FS is not set\nCONFIG_NR_CPUS=8\n";
  assert.deepEqual(
    missingOptions(final, [["VIRTIO_BLK", "y"], ["9P_FS", "y"], ["NR_CPUS", "64"], ["SOUND", "n"]]),
    ["9P_FS=y (got n)", "NR_CPUS=64 (got 8)"],
  );
  assert.equal(parseKernelConfig(final).get("NR_CPUS"), "8");
});

Deno.test("tuned kernel options: what a Cocoon guest and its containers need is all built in", () => {
  const want = new Map(TUNED_OPTIONS);
  for (
    const k of [
      "VIRTIO_PCI",
      "VIRTIO_BLK",
      "VIRTIO_NET",
      "VIRTIO_CONSOLE",
      "HW_RANDOM_VIRTIO",
      "VIRTIO_VSOCKETS",
      "NET_9P_VIRTIO",
      "9P_FS",
      "VIRTIO_FS",
      "FUSE_DAX",
      "EROFS_FS",
      "VIRTIO_PMEM",
      "FS_DAX",
      "OVERLAY_FS",
      "EXT4_FS",
      "MEMCG",
      "CGROUP_BPF",
      "USER_NS",
      "PID_NS",
      "NET_NS",
      "SECCOMP_FILTER",
      "BRIDGE",
      "VETH",
      "TUN",
      "NF_TABLES",
      "IP_NF_NAT",
    ]
  ) {
    assert.equal(want.get(k), "y", `CONFIG_${k}`);
  }
  assert.equal(new Set(TUNED_OPTIONS.map(([k]) => k)).size, TUNED_OPTIONS.length, "an option twice");
});
