import assert from "node:assert/strict";
import { cgroupMounts, cgroupRelPath } from "./host_cgroup.ts";

Deno.test("cgroupRelPath() takes cgroupfs paths as they are and expands systemd's slice:prefix:name", () => {
  assert.equal(cgroupRelPath("/docker/abc"), "docker/abc");
  assert.equal(cgroupRelPath("system.slice:docker:abc"), "system.slice/docker-abc.scope");
  assert.equal(
    cgroupRelPath("machine-libpod_pod_1.slice:libpod:abc"),
    "machine.slice/machine-libpod_pod_1.slice/libpod-abc.scope",
  );
  assert.equal(cgroupRelPath("/a/../../etc"), null);
  assert.equal(cgroupRelPath(""), null);
  assert.equal(cgroupRelPath(undefined), null);
});

Deno.test("cgroupMounts() lists v1 hierarchies with their usage controllers and the v2 one", () => {
  const mi = [
    "30 25 0:26 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory",
    "31 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct",
    "32 25 0:28 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices",
    "33 25 0:29 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw",
    "34 25 0:30 / /run rw - tmpfs tmpfs rw",
  ].join("\n");
  assert.deepEqual(cgroupMounts(mi), [
    { mountPoint: "/sys/fs/cgroup/memory", controllers: ["memory"] },
    { mountPoint: "/sys/fs/cgroup/cpu,cpuacct", controllers: ["cpu", "cpuacct"] },
    { mountPoint: "/sys/fs/cgroup/devices", controllers: [] },
    { mountPoint: "/sys/fs/cgroup/unified", controllers: [""] },
  ]);
});
