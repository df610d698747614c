import { parseArgs } from "node:util";
import {
  buildGuestImage,
  DEFAULT_GUEST_ROOT,
  formatGuestImageInfo,
  guestImageInfo,
  pruneGuestImages,
  stderrProgress,
} from "../../guest/mod.ts";
import { RuntimeError } from "../../errors.ts";
import type { Command } from "../args.ts";

const USAGE = `cocoon guest build [--out DIR] [--mode erofs|initrd] [--kernel tuned|debian|auto]
                   [--kernel-flavour generic|cloud]
                   [--agent-bundle FILE] [--agent-binary FILE] [--deno FILE] [--json]
cocoon guest info [DIR] [--json]
cocoon guest prune [--out DIR]   (removes images other than "current" unused for an hour)`;

export const guest: Command = {
  summary: "Build the guest image (kernel, initrd, read-only userland) or show what is in it",
  usage: USAGE,
  async run(args, ctx) {
    const [sub, ...rest] = args;
    const { values, positionals } = parseArgs({
      args: rest,
      allowPositionals: true,
      options: {
        out: { type: "string" },
        mode: { type: "string" },
        kernel: { type: "string" },
        "kernel-flavour": { type: "string" },
        "agent-bundle": { type: "string" },
        "agent-binary": { type: "string" },
        deno: { type: "string" },
        json: { type: "boolean", default: false },
      },
    });
    if (sub === "build") {
      const mode = values.mode ?? "erofs";
      if (mode !== "erofs" && mode !== "initrd") {
        throw new RuntimeError(
          "InvalidArgument",
          `Flag "--mode" must be erofs or initrd: current value is "${mode}"`,
        );
      }
      const flavour = values["kernel-flavour"];
      if (flavour !== undefined && flavour !== "cloud" && flavour !== "generic") {
        throw new RuntimeError(
          "InvalidArgument",
          `Flag "--kernel-flavour" must be cloud or generic: current value is "${flavour}"`,
        );
      }
      const kernel = values.kernel ?? (flavour !== undefined ? "debian" : "auto");
      if (kernel !== "tuned" && kernel !== "debian" && kernel !== "auto") {
        throw new RuntimeError(
          "InvalidArgument",
          `Flag "--kernel" must be tuned (built from Debian's kernel source with Cocoon's options), debian (Debian's prebuilt kernel) or auto (tuned when built, else debian): current value is "${kernel}"`,
        );
      }
      if (kernel === "tuned" && flavour !== undefined) {
        throw new RuntimeError(
          "InvalidArgument",
          `Flag "--kernel-flavour" picks one of Debian's prebuilt kernels: use it with --kernel debian, not --kernel tuned`,
        );
      }
      const img = await buildGuestImage({
        outDir: values.out ?? DEFAULT_GUEST_ROOT,
        mode,
        kernel,
        ...(flavour !== undefined ? { kernelFlavour: flavour } : {}),
        progress: stderrProgress(),
        ...(values["agent-bundle"] ? { agentBundle: values["agent-bundle"] } : {}),
        ...(values["agent-binary"] ? { agentBinary: values["agent-binary"] } : {}),
        ...(values.deno ? { denoBinary: values.deno } : {}),
      });
      ctx.print(
        values.json
          ? JSON.stringify(img, null, 2)
          : `${
            img.built ? "Built" : "Up to date:"
          } ${img.dir}\n  kernel ${img.kernel}\n  initrd ${img.initrd}${
            img.rootfs ? `\n  rootfs ${img.rootfs}` : ""
          }`,
      );
      return 0;
    }
    if (sub === "info") {
      const info = await guestImageInfo(positionals[0] ?? values.out);
      ctx.print(values.json ? JSON.stringify(info, null, 2) : formatGuestImageInfo(info));
      return 0;
    }
    if (sub === "prune") {
      const removed = await pruneGuestImages(values.out ? { outDir: values.out } : {});
      ctx.print(
        removed.length
          ? `Removed ${removed.length} image(s):\n  ${removed.join("\n  ")}`
          : "Nothing to remove",
      );
      return 0;
    }
    throw new RuntimeError(
      "InvalidArgument",
      `Unknown guest subcommand "${sub ?? ""}": use build, info or prune`,
    );
  },
};
