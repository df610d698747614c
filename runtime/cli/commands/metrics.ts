/**
 * `cocoon metrics <id> [--json]`: a sandbox's figures: state, owner, uptime, start latency, VMM
 * CPU and memory (/proc), and the guest cgroup stats of its containers (from the agent, when its
 * owner can be asked).
 *
 * @module
 */
import { describeOwner, type GuestStatsView, localBackend, type SandboxView } from "../../api/http/mod.ts";
import { RuntimeError } from "../../errors.ts";
import { openSandboxRuntime } from "../../sandbox/mod.ts";
import type { Command } from "../args.ts";
import { parseVerb, withStateDir } from "../oci_args.ts";

function mib(b: number | null): string {
  return b === null ? "-" : `${(b / 1048576).toFixed(1)} MiB`;
}

function secs(s: number | null): string {
  return s === null ? "-" : `${s.toFixed(2)} s`;
}

/** The text form. Pure. */
export function metricsText(s: SandboxView, guest: readonly GuestStatsView[] | null): string {
  const lines = [
    `sandbox      ${s.id}`,
    `state        ${s.state.kind}`,
    `owner        ${describeOwner(s.owner)}`,
    `uptime       ${secs(s.uptimeSeconds)}`,
    `start        ${secs(s.startSeconds)} (created to ready)`,
    `vcpus        ${s.vcpus}`,
    `memory       ${s.memoryMiB} MiB`,
    `vmm pids     ${s.pids.join(" ") || "-"}`,
    `vmm cpu      ${secs(s.vmm?.cpuSeconds ?? null)}`,
    `vmm rss      ${mib(s.vmm?.rssBytes ?? null)}`,
    `vmm pss      ${mib(s.vmm?.pssBytes ?? null)}`,
  ];
  if (guest === null) {
    lines.push("guest        not reachable (no running VM, or held by a process the CLI cannot ask)");
  }
  for (const c of guest ?? []) {
    lines.push(
      `container    ${c.containerId}: cpu ${secs(c.cpuSeconds)}, memory ${mib(c.memoryBytes)}` +
        ` (limit ${
          c.memoryLimitBytes === null || c.memoryLimitBytes > 2 ** 62 ? "none" : mib(c.memoryLimitBytes)
        })` +
        `, pids ${c.pids ?? "-"}`,
    );
  }
  return lines.join("\n");
}

export const metrics: Command = {
  summary: "Print a sandbox's metrics (VMM CPU and memory, guest cgroup stats)",
  usage: "cocoon metrics [--json] <sandbox-id>",
  async run(args, ctx) {
    const { values, positionals } = parseVerb("metrics", args, { json: { type: "boolean", default: false } });
    const id = positionals[0];
    if (id === undefined || id === "" || positionals.length > 1) {
      throw new RuntimeError(
        "InvalidArgument",
        'Invalid arguments for "metrics": one sandbox id is required',
      );
    }
    const cfg = withStateDir(await ctx.config(), ctx.globals.root);
    const log = ctx.log.child({ subsystem: "metrics" });
    const runtime = await openSandboxRuntime(cfg, { log, registry: await ctx.registry() });
    const backend = localBackend({ runtime, log });
    const sandbox = await backend.get(id);
    const running = sandbox.state.kind === "ready";
    const guest = running
      ? await backend.guestStats(id).catch((e) => {
        log.debug("guest stats unavailable", { error: e });
        return null;
      })
      : null;
    ctx.print(values.json ? JSON.stringify({ sandbox, guest }, null, 2) : metricsText(sandbox, guest));
    return 0;
  },
};
