import type { Command } from "../args.ts";
import { parseVerb } from "../oci_args.ts";
import { OCI_SPEC_VERSION } from "../version.ts";

/** What the runtime supports, in the shape of runc's `features` (runtime-spec features.md). */
function featuresDocument(): Record<string, unknown> {
  return {
    ociVersionMin: "1.0.0",
    ociVersionMax: OCI_SPEC_VERSION,
    hooks: [],
    mountOptions: [
      "bind",
      "rbind",
      "ro",
      "rw",
      "nosuid",
      "nodev",
      "noexec",
      "relatime",
      "strictatime",
      "mode",
      "size",
    ],
    linux: {
      namespaces: ["cgroup", "ipc", "mount", "network", "pid", "uts"],
      capabilities: [],
      cgroup: { v1: false, v2: true, systemd: false, systemdUser: false },
      seccomp: { enabled: false },
      apparmor: { enabled: false },
      selinux: { enabled: false },
    },
    annotations: {
      "io.cocoon.isolation": "microvm",
      "io.cocoon.config.prefix": "io.cocoon.config.",
    },
  };
}

export const features: Command = {
  summary: "Print the features this runtime supports as JSON",
  usage: "cocoon features",
  run(args, ctx) {
    parseVerb("features", args, {});
    ctx.print(JSON.stringify(featuresDocument(), null, 2));
    return Promise.resolve(0);
  },
};
