/**
 * `cocoon api`: serves the management HTTP API (JSON routes, Prometheus `/metrics`, the dashboard
 * at `/`) on a unix socket (0600) and, when asked, on TCP with the bearer token (loopback unless
 * `--listen-public`). Lists every sandbox of the state root (`--root`, else `runtime.state_dir`);
 * actions go to each sandbox's owner. `cocoon api token [--rotate]` prints (or replaces) the token.
 *
 * @module
 */
import { createApiApp, formatListen, localBackend, parseListen, serveApi } from "../../api/http/mod.ts";
import { readOrCreateToken, rotateToken } from "../../api/http/token.ts";
import { RuntimeError } from "../../errors.ts";
import { openSandboxRuntime } from "../../sandbox/mod.ts";
import type { Command } from "../args.ts";
import { parseVerb, withStateDir } from "../oci_args.ts";

const DEFAULT_API_LISTEN = "unix:///run/cocoon/api.sock";

const OPTIONS = {
  listen: { type: "string", multiple: true },
  "listen-public": { type: "boolean" },
  "token-file": { type: "string" },
  rotate: { type: "boolean" },
} as const;

export const api: Command = {
  summary: "Serve the management HTTP API, /metrics and the dashboard; `api token` prints its token",
  usage: "cocoon api [--listen unix:///run/cocoon/api.sock] [--listen tcp://127.0.0.1:PORT]... " +
    "[--listen-public] [--token-file F]   |   cocoon api token [--rotate] [--token-file F]   " +
    `(default ${DEFAULT_API_LISTEN}; TCP needs the token: Authorization: Bearer, or open /?token=… ` +
    "once for the dashboard; port 0 picks a free port; the addresses are printed on stderr)",
  async run(args, ctx) {
    const { values, positionals } = parseVerb("api", args, OPTIONS);
    const cfg = withStateDir(await ctx.config(), ctx.globals.root);
    const tokenFile = values["token-file"] ?? cfg.runtime.apiTokenFile;
    if (positionals[0] === "token") {
      ctx.print(values.rotate === true ? await rotateToken(tokenFile) : await readOrCreateToken(tokenFile));
      return 0;
    }
    if (positionals.length > 0) {
      throw new RuntimeError(
        "InvalidArgument",
        `Invalid argument "${positionals[0]}" for cocoon api: the only subcommand is "token"`,
      );
    }
    const listen = (values.listen ?? [DEFAULT_API_LISTEN]).map(parseListen);
    const log = ctx.log.child({ subsystem: "api" });
    const token = listen.some((a) => a.kind === "tcp") ? await readOrCreateToken(tokenFile) : undefined;
    const runtime = await openSandboxRuntime(cfg, { log, registry: await ctx.registry() });
    const app = createApiApp(localBackend({ runtime, log }), { log });
    const server = await serveApi(app.fetch, listen, {
      log,
      public: values["listen-public"] === true,
      ...(token !== undefined ? { token } : {}),
    });
    ctx.printErr(
      `cocoon api: listening on ${server.addresses.map(formatListen).join(" ")}` +
        (token !== undefined ? ` (TCP token: \`cocoon api token\`, file ${tokenFile})` : ""),
    );
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
