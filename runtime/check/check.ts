/**
 * `cocoon check`: probes the host for real and says whether a sandbox can run here, and if not,
 * what to install or change.
 *
 * @module
 */
import type { HostCheck, Hypervisor } from "../../plugins/types.ts";
import type { ResolvedConfig } from "../config/schema.ts";
import { loadPlugin } from "../plugins/loader.ts";
import type { PluginRegistry } from "../plugins/registry.ts";
import type { Logger } from "../log/logger.ts";
import {
  probeCgroups,
  probeGuestImage,
  probePeers,
  probeSharedFs,
  probeTun,
  probeUserNamespaces,
  probeVhostNet,
  probeVhostVsock,
} from "./probes.ts";

export interface CheckReport {
  /** True when nothing is "fail": a sandbox can run. */
  readonly ok: boolean;
  readonly checks: readonly HostCheck[];
}

export async function runHostCheck(
  cfg: ResolvedConfig,
  opts: { registry: PluginRegistry; log: Logger; signal?: AbortSignal },
): Promise<CheckReport> {
  const checks: HostCheck[] = [];
  try {
    const { instance } = await loadPlugin(opts.registry, "hypervisor", cfg.hypervisor.name, {
      log: opts.log.child({ subsystem: "hypervisor" }),
      config: cfg.hypervisor.raw,
      runDir: cfg.runtime.stateDir,
    });
    checks.push(...await hypervisorChecks(instance, cfg, opts.signal));
  } catch (e) {
    checks.push({
      name: `hypervisor ${cfg.hypervisor.name}`,
      status: "fail",
      detail: e instanceof Error ? e.message : String(e),
      fix: "check [hypervisor] in the configuration (`cocoon env`)",
    });
  }
  checks.push(await probeVhostVsock(), await probeVhostNet(), await probeTun());
  checks.push(await probeUserNamespaces(), await probeCgroups());
  checks.push(...await probeGuestImage(cfg), await probeSharedFs(cfg));
  checks.push(...await probePeers());
  return { ok: checks.every((c) => c.status !== "fail"), checks };
}

async function hypervisorChecks(
  h: Hypervisor,
  cfg: ResolvedConfig,
  signal?: AbortSignal,
): Promise<HostCheck[]> {
  if (h.hostReport) return [...await h.hostReport(signal ? { signal } : {})];
  try {
    await h.check(signal ? { signal } : {});
    return [{ name: `hypervisor ${cfg.hypervisor.name}`, status: "ok", detail: cfg.hypervisor.path }];
  } catch (e) {
    return [{ name: `hypervisor ${cfg.hypervisor.name}`, status: "fail", detail: (e as Error).message }];
  }
}

/** Renders the report as an aligned table. */
export function renderCheckTable(r: CheckReport): string {
  const mark = { ok: "ok", warn: "WARN", fail: "FAIL", info: "--" } as const;
  const w = Math.max(...r.checks.map((c) => c.name.length), 4);
  const lines = r.checks.map((c) => {
    const base = `${mark[c.status].padEnd(5)} ${c.name.padEnd(w)}  ${c.detail}`;
    return c.fix ? `${base}\n${" ".repeat(w + 8)}fix: ${c.fix}` : base;
  });
  lines.push(
    "",
    r.ok
      ? "A sandbox can run on this host."
      : "A sandbox cannot run on this host yet: fix the FAIL lines above.",
  );
  return lines.join("\n");
}
