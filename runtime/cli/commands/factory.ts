/**
 * `cocoon factory init | status | destroy | serve`: VM templates and the VM cache ahead of time.
 *
 * @module
 */
import { parseArgs } from "node:util";
import type { FactoryProgress, FactoryStatus } from "../../../plugins/types.ts";
import type { ResolvedConfig } from "../../config/schema.ts";
import { RuntimeError } from "../../errors.ts";
import { cacheStatus, stopCache } from "../../factory/cache_client.ts";
import type { CacheStatus } from "../../factory/cache_server.ts";
import { destroyFactory, factoryStatus } from "../../factory/init.ts";
import { initFactory } from "../../sandbox/factory_init.ts";
import { openSandboxRuntime } from "../../sandbox/runtime.ts";
import { daemonDir, daemonPaths } from "../../shim/address.ts";
import { controlCall, ensureDaemon } from "../../shim/daemon_client.ts";
import type { Command } from "../args.ts";

const USAGE =
  `cocoon factory init [--json]     build the VM template of this configuration's sandbox shape, and
                                 with vm_cache_number > 0 have cocoon daemon serve the VM cache on vm_cache_endpoint
cocoon factory status [--json]   list templates under [factory] template_path and the cache's state
cocoon factory destroy           stop the VM cache, remove every template (and its tmpfs)
cocoon factory serve             have cocoon daemon serve the VM cache until this command is stopped`;

function format(s: FactoryStatus, templatesOn: boolean, cache?: CacheStatus): string {
  const head = `factory: ${templatesOn ? "template" : "new (enable_template = false)"}`;
  const lines = s.items.length === 0
    ? [head, "  no templates"]
    : [head, ...s.items.map((i) => `  ${i.name}  ${i.state}${i.detail ? `  ${i.detail}` : ""}`)];
  if (cache !== undefined) {
    lines.push(`cache: ${cache.ready}/${cache.wanted} VMs ready (${cache.origin}), ${cache.filling} booting`);
  }
  return lines.join("\n");
}

/** Has the host daemon serve this configuration's VM cache (starting the daemon when none runs). */
async function serveCacheInDaemon(cfg: ResolvedConfig): Promise<string> {
  const paths = daemonPaths(daemonDir());
  const configPath = cfg.source.file.startsWith("/") ? cfg.source.file : undefined;
  await ensureDaemon(paths, configPath !== undefined ? { env: { COCOON_CONFIG: configPath } } : {});
  await controlCall(paths, "ServeVmCache", configPath !== undefined ? { configPath } : {}, {
    timeoutMs: 60_000,
  });
  return paths.dir;
}

/** Has the daemon serve the VM cache and waits until it holds a VM (or fails). */
async function startCache(cfg: ResolvedConfig, say: (line: string) => void): Promise<CacheStatus> {
  let st = await cacheStatus(cfg);
  if (st === undefined) {
    const dir = await serveCacheInDaemon(cfg);
    say(`the VM cache is served by cocoon daemon (${dir}) on ${cfg.factory.vmCacheEndpoint}`);
  }
  const deadline = Date.now() + cfg.agent.dialTimeoutSeconds * 1000 * 2;
  while (Date.now() < deadline) {
    st = await cacheStatus(cfg);
    if (st !== undefined && (st.ready > 0 || st.failures > 0)) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  if (st === undefined) {
    throw new RuntimeError(
      "Unavailable",
      `Cannot start the VM cache: "${cfg.factory.vmCacheEndpoint}" does not answer`,
    );
  }
  if (st.ready === 0) {
    throw new RuntimeError("Unavailable", `Cannot fill the VM cache: ${st.failures} attempts failed`);
  }
  say(`VM cache: ${st.ready}/${st.wanted} ready, filling in the background`);
  return st;
}

export const factory: Command = {
  summary: "Build, list or remove VM templates and the VM cache ([factory] in the configuration)",
  usage: USAGE,
  async run(args, ctx) {
    const [sub, ...rest] = args;
    const { values } = parseArgs({ args: rest, options: { json: { type: "boolean", default: false } } });
    const cfg = await ctx.config();
    if (sub === "init") {
      if (!cfg.factory.enableTemplate && cfg.factory.vmCacheNumber === 0) {
        ctx.printErr(
          "templates and the VM cache are off: set [factory] enable_template = true or vm_cache_number",
        );
      }
      const rt = await openSandboxRuntime(cfg, { registry: await ctx.registry(), log: ctx.log });
      const t0 = performance.now();
      const progress = (p: FactoryProgress) =>
        ctx.printErr(`[${(p.elapsedMs / 1000).toFixed(1)}s] ${p.step}${p.detail ? `: ${p.detail}` : ""}`);
      const s = await initFactory(rt, { progress });
      const cache = cfg.factory.vmCacheNumber > 0
        ? await startCache(cfg, (line) => ctx.printErr(line))
        : undefined;
      ctx.print(
        values.json ? JSON.stringify({ ...s, cache }, null, 2) : format(s, cfg.factory.enableTemplate, cache),
      );
      ctx.printErr(`done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      return 0;
    }
    if (sub === "serve") {
      // In the foreground for an init system: the daemon serves the cache until this is stopped.
      const dir = await serveCacheInDaemon(cfg);
      ctx.printErr(`the VM cache is served by cocoon daemon (${dir}) on ${cfg.factory.vmCacheEndpoint}`);
      const stop = Promise.withResolvers<void>();
      const onSignal = () => stop.resolve();
      Deno.addSignalListener("SIGTERM", onSignal);
      Deno.addSignalListener("SIGINT", onSignal);
      try {
        await stop.promise;
      } finally {
        Deno.removeSignalListener("SIGTERM", onSignal);
        Deno.removeSignalListener("SIGINT", onSignal);
      }
      await stopCache(cfg);
      return 0;
    }
    if (sub === "status") {
      const s = await factoryStatus({ config: cfg, log: ctx.log });
      const cache = await cacheStatus(cfg);
      ctx.print(
        values.json ? JSON.stringify({ ...s, cache }, null, 2) : format(s, cfg.factory.enableTemplate, cache),
      );
      return 0;
    }
    if (sub === "destroy") {
      if (await stopCache(cfg)) ctx.printErr(`stopped the VM cache on ${cfg.factory.vmCacheEndpoint}`);
      await destroyFactory({ config: cfg, log: ctx.log });
      ctx.print(`removed templates under ${cfg.factory.templatePath}`);
      return 0;
    }
    throw new RuntimeError(
      "InvalidArgument",
      `Unknown factory subcommand "${sub ?? ""}": use init, status, destroy or serve`,
    );
  },
};
