import { toRuntimeError } from "../../errors.ts";
import type { ContainerId } from "../../ids.ts";
import { createLogger, fileSink, type Logger, setRootLog } from "../../log/logger.ts";
import { writeAtomic } from "../../sys/files.ts";
import type { OciPaths } from "../../holder/paths.ts";
import { Holder } from "../../holder/holder.ts";
import { ociPaths } from "../../holder/paths.ts";
import { loadBundle } from "../../oci/bundle.ts";
import type { Command, CommandContext } from "../args.ts";
import { idArg, ociEnv, parseVerb } from "../oci_args.ts";

const FORWARDED: readonly Deno.Signal[] = ["SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2"];

/**
 * `cocoon __holder`: started by `create`, never by people. Its stdio is the container's; its own
 * log goes to --log or to holder.log in the container's state directory, never to stderr.
 */
export const holder: Command = {
  summary: "(internal) hold one container's sandbox: started by create",
  usage: "cocoon __holder --bundle DIR [--console-socket SOCK] <container-id>",
  async run(args, ctx) {
    const { values, positionals } = parseVerb("__holder", args, {
      bundle: { type: "string" },
      "console-socket": { type: "string" },
    });
    const id = idArg("__holder", positionals);
    const stateDir = (await ociEnv(ctx)).stateDir;
    const paths = ociPaths(stateDir, id);
    const log = createLogger({
      level: ctx.globals.debug ? "debug" : "info",
      sink: fileSink(ctx.globals.log ?? paths.log),
      fields: { pid: Deno.pid, subsystem: "holder", container: id },
    });
    setRootLog(log);
    try {
      return await hold(ctx, id, paths, log, values.bundle, values["console-socket"]);
    } catch (e) {
      // Never on stderr (that is the container's): `create` reads the error file.
      const err = toRuntimeError(e);
      log.error(err.message, { error: e });
      await writeAtomic(paths.error, JSON.stringify({ code: err.code, message: err.message })).catch(
        () => {},
      );
      return 1;
    }
  },
};

async function hold(
  ctx: CommandContext,
  id: ContainerId,
  paths: OciPaths,
  log: Logger,
  bundleDir: string | undefined,
  consoleSocket: string | undefined,
): Promise<number> {
  const env = await ociEnv(ctx, log);
  // Until the container exists a signal aborts the create (rolled back); then it goes to the container.
  const ac = new AbortController();
  const held: { holder?: Holder } = {};
  for (const s of FORWARDED) {
    Deno.addSignalListener(s, () => {
      const h = held.holder;
      if (h === undefined) return ac.abort(new Error(`received ${s}`));
      h.sandbox.act({ kind: "kill", containerId: id, signal: s }).catch((e) =>
        log.warn("cannot forward signal", { signal: s, error: e })
      );
      h.watchExit();
    });
  }
  const bundle = await loadBundle(bundleDir ?? Deno.cwd());
  const target = await Holder.create({
    rt: await env.runtime(),
    id,
    bundle,
    paths,
    log,
    signal: ac.signal,
    stdio: { stdin: Deno.stdin.readable, stdout: Deno.stdout.writable, stderr: Deno.stderr.writable },
    ...(consoleSocket !== undefined ? { consoleSocket } : {}),
  });
  held.holder = target;
  log.info("holder ready", { sandbox: id });
  const status = await target.done;
  log.info("holder exits", { status });
  return status;
}
