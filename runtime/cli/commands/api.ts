/**
 * `cocoon api`: serves the management HTTP API (JSON routes, Prometheus `/metrics`, the dashboard
 * at `/`) on a unix socket and, when asked, on localhost TCP. Lists every sandbox of the state root
 * (`--root`, else `runtime.state_dir`); actions go to each sandbox's owner.
 *
 * @module
 */
import { createApiApp, formatListen, localBackend, parseListen, serveApi } from "../../api/http/mod.ts";
import { openSandboxRuntime } from "../../sandbox/mod.ts";
import type { Command } from "../args.ts";
import { parseVerb, withStateDir } from "../oci_args.ts";

const DEFAULT_API_LISTEN = "unix:///run/cocoon/api.sock";

export const api: Command = {
  summary: "Serve the management HTTP API, /metrics and the dashboard",
  usage: "cocoon api [--listen unix:///run/cocoon/api.sock] [--listen tcp://127.0.0.1:PORT]...   " +
    `(default ${DEFAULT_API_LISTEN}; port 0 picks a free port; the addresses are printed on stderr)`,
  async run(args, ctx) {
    const { values } = parseVerb("api", args, { listen: { type: "string", multiple: true } });
    const listen = (values.listen ?? [DEFAULT_API_LISTEN]).map(parseListen);
    const cfg = withStateDir(await ctx.config(), ctx.globals.root);
    const log = ctx.log.child({ subsystem: "api" });
    const runtime = await openSandboxRuntime(cfg, { log, registry: await ctx.registry() });
    const app = createApiApp(localBackend({ runtime, log }), { log });
    const server = await serveApi(app.fetch, listen, { log });
    ctx.printErr(`cocoon api: listening on ${server.addresses.map(formatListen).join(" ")}`);
    const stopped = Promise.withResolvers<void>();
    const stop = () => stopped.resolve();
    for (const sig of ["SIGTERM", "SIGINT"] as const) Deno.addSignalListener(sig, stop);
    try {
      await stopped.promise;
    } finally {
      for (const sig of ["SIGTERM", "SIGINT"] as const) Deno.removeSignalListener(sig, stop);
    }
    await server.close();
    log.info("api stopped");
    return 0;
  },
};
