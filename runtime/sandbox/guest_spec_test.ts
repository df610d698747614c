import assert from "node:assert/strict";
import { guestSpec } from "./_guest_spec.ts";

Deno.test({
  name: "guestSpec() drops host namespace paths, the network namespace and net.* sysctls, keeps the rest",
  permissions: "none",
  fn() {
    const raw = {
      ociVersion: "1.0.2",
      root: { path: "/host/rootfs" },
      hooks: { prestart: [{ path: "/usr/bin/hook" }] },
      linux: {
        namespaces: [{ type: "pid" }, { type: "network", path: "/var/run/netns/pod" }, {
          type: "ipc",
          path: "/proc/1/ns/ipc",
        }],
        sysctl: { "net.ipv4.ping_group_range": "0 0", "kernel.msgmax": "8192" },
      },
    };
    const out = guestSpec(raw, { rootPath: "/guest/rootfs", mounts: [], mountSources: [] });
    assert.deepEqual(out["root"], { path: "/guest/rootfs" });
    assert.equal(out["hooks"], undefined);
    const linux = out["linux"] as { namespaces: unknown[]; sysctl: Record<string, string> };
    assert.deepEqual(linux.namespaces, [{ type: "pid" }]);
    assert.deepEqual(linux.sysctl, { "kernel.msgmax": "8192" });
  },
});
