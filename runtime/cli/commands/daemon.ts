/**
 * `cocoon daemon`: the host daemon serving containerd's Task API for every pod (started on demand
 * by `containerd-shim-cocoon-v2 start`, or by an init system). Logs go to `<dir>/daemon.log`.
 *
 * @module
 */
import { protectSelf } from "../../sys/oom_score.ts";
import { parseArgs } from "node:util";
import { startDaemon } from "../../daemon/daemon.ts";
import { RuntimeError } from "../../errors.ts";
import { createLogger, fileSink, setRootLog } from "../../log/logger.ts";
import { openSandboxRuntime } from "../../sandbox/mod.ts";
import { daemonDir, daemonPaths } from "../../shim/address.ts";
import type { Command } from "../args.ts";

export const daemon: Command = {
  summary: "Serve the containerd shim v2 Task API for every pod of this host",
  usage: "cocoon daemon [--dir DIR] [--stay]   (DIR default: $COCOON_DAEMON_DIR or /run/cocoon/daemon)",
  async run(args, ctx) {
    let values: { dir?: string; stay?: boolean };
    try {
      values = parseArgs({
        args: [...args],
        options: { dir: { type: "string" }, stay: { type: "boolean", default: false } },
        strict: true,
      }).values;
    } catch (e) {
      throw new RuntimeError("InvalidArgument", `Invalid arguments for "daemon": ${String(e)}`, { cause: e });
    }
    const paths = daemonPaths(values.dir ?? daemonDir());
    await Deno.mkdir(paths.dir, { recursive: true, mode: 0o700 });
    const log = createLogger({
      level: ctx.globals.debug ? "debug" : "info",
      sink: fileSink(ctx.globals.log ?? paths.logFile),
      fields: { pid: Deno.pid, subsystem: "daemon" },
    });
    setRootLog(log);
    // one process answers for every pod: the OOM killer takes a VM first (its VMMs are set back)
    await protectSelf(log);
    const runtime = await openSandboxRuntime(await ctx.config(), {
      log,
      owner: { kind: "daemon", api: `${paths.dir}/api.sock` },
    });
    const d = await startDaemon({ dir: paths.dir, runtime, log, exitWhenIdle: values.stay !== true });
    const stop = () => void d.close();
    for (const s of ["SIGTERM", "SIGINT"] as const) Deno.addSignalListener(s, stop);
    try {
      await d.done;
    } finally {
      for (const s of ["SIGTERM", "SIGINT"] as const) Deno.removeSignalListener(s, stop);
    }
    log.info("daemon stopped");
    return 0;
  },
};
