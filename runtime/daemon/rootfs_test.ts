import assert from "node:assert/strict";
import { mountArgv } from "./rootfs.ts";
import { encodeCgroupsV2Metrics } from "./metrics.ts";

Deno.test({
  name: "mountArgv() mounts overlay with its options and binds with rbind",
  permissions: "none",
  fn() {
    assert.deepEqual(
      mountArgv(
        { type: "overlay", source: "overlay", options: ["lowerdir=/l", "upperdir=/u", "workdir=/w"] },
        "/b/rootfs",
      ),
      ["-t", "overlay", "-o", "lowerdir=/l,upperdir=/u,workdir=/w", "overlay", "/b/rootfs"],
    );
    assert.deepEqual(mountArgv({ type: "bind", source: "/s", options: ["ro"] }, "/t"), [
      "-o",
      "rbind,ro",
      "/s",
      "/t",
    ]);
    assert.deepEqual(mountArgv({ type: "none", source: "/s", options: ["rbind", "rw"] }, "/t"), [
      "-o",
      "rbind,rw",
      "/s",
      "/t",
    ]);
  },
});

Deno.test({
  name: "encodeCgroupsV2Metrics() writes pids (field 1) and cpu in microseconds (field 2)",
  permissions: "none",
  fn() {
    const b = encodeCgroupsV2Metrics({
      sampledAt: undefined,
      pids: { current: 3n, limit: 0n },
      cpu: { usageNs: 5_000_000n, userNs: 3_000_000n, systemNs: 2_000_000n },
    });
    // 0a 02 08 03 | 12 09 08 88 27 10 b8 17 18 d0 0f
    assert.deepEqual([...b], [
      0x0a,
      2,
      0x08,
      3,
      0x12,
      9,
      0x08,
      0x88,
      0x27,
      0x10,
      0xb8,
      0x17,
      0x18,
      0xd0,
      0x0f,
    ]);
    assert.equal(encodeCgroupsV2Metrics({ sampledAt: undefined }).length, 0);
  },
});
