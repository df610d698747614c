/**
 * `cocoon daemon`: the host daemon serving containerd's Task API for every pod (started on demand
 * by `containerd-shim-cocoon-v2 start`, or by an init system). Logs go to `<dir>/daemon.log`.
 *
 * It runs as two processes: the supervisor (this command), which owns containerd's sockets and
 * connections and restarts the daemon when it dies, and the daemon proper (`--worker`, started by
 * the supervisor), which owns the sandboxes. See runtime/daemon/supervisor/.
 *
 * @module
 */
import { protectSelf } from "../../sys/oom_score.ts";
import { parseArgs } from "node:util";
import { RuntimeError } from "../../errors.ts";
import { createLogger, fileSink, setRootLog } from "../../log/logger.ts";
import { daemonDir, daemonPaths } from "../../shim/address.ts";
import { selfCommand } from "../../holder/spawn.ts";
import { runSupervisor } from "../../daemon/supervisor/supervisor.ts";

/** The supervisor's OOM score: below its daemon's, as containerd's is below its shims'. */
const SUPERVISOR_OOM_SCORE = -999;
import type { Command } from "../args.ts";

export const daemon: Command = {
  summary: "Serve the containerd shim v2 Task API for every pod of this host",
  usage: "cocoon daemon [--dir DIR] [--stay]   (DIR default: $COCOON_DAEMON_DIR or /run/cocoon/daemon; " +
    "--worker: the daemon proper, which the supervisor this command runs starts itself)",
  async run(args, ctx) {
    let values: { dir?: string; stay?: boolean; worker?: boolean };
    try {
      values = parseArgs({
        args: [...args],
        options: {
          dir: { type: "string" },
          stay: { type: "boolean", default: false },
          worker: { type: "boolean", default: false },
        },
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
      fields: { pid: Deno.pid, subsystem: values.worker ? "daemon" : "supervisor" },
    });
    setRootLog(log);
    if (values.worker !== true) {
      await protectSelf(log, SUPERVISOR_OOM_SCORE);
      const g = ctx.globals;
      const worker = selfCommand([
        ...(g.config !== undefined ? ["--config", g.config] : []),
        ...(g.debug ? ["--debug"] : []),
        ...(g.log !== undefined ? ["--log", g.log] : []),
        "daemon",
        "--worker",
        "--dir",
        paths.dir,
        ...(values.stay === true ? ["--stay"] : []),
      ]);
      return await runSupervisor({ dir: paths.dir, worker, log });
    }
    // the daemon proper; loaded here only, so that the supervisor stays small
    const [{ startDaemon }, { openSandboxRuntime }, { SupervisorLink }] = await Promise.all([
      import("../../daemon/daemon.ts"),
      import("../../sandbox/mod.ts"),
      import("../../daemon/supervisor/link.ts"),
    ]);
    const linkPath = Deno.env.get("COCOON_SUPERVISOR_LINK");
    const supervisor = linkPath !== undefined && linkPath !== ""
      ? await SupervisorLink.connect(linkPath)
      : undefined;
    // one process answers for every pod: the OOM killer takes a VM first (its VMMs are set back)
    await protectSelf(log);
    const runtime = await openSandboxRuntime(await ctx.config(), {
      log,
      owner: { kind: "daemon", api: `${paths.dir}/api.sock` },
    });
    const d = await startDaemon({
      dir: paths.dir,
      runtime,
      log,
      exitWhenIdle: values.stay !== true,
      ...(supervisor !== undefined ? { supervisor } : {}),
      restarted: Deno.env.get("COCOON_SUPERVISOR_RESTART") === "1",
    });
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
