/**
 * `cocoon sandboxer`: serves containerd 2.0's Sandbox API (`containerd.services.sandbox.v1.Controller`,
 * gRPC on a unix socket) and, in the same process, the Task API that Start points containerd at.
 * Configure containerd with configs/containerd/sandboxer.toml.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { RuntimeError } from "../../errors.ts";
import { createLogger, fileSink, setRootLog } from "../../log/logger.ts";
import { openSandboxRuntime } from "../../sandbox/mod.ts";
import { startSandboxer } from "../../sandboxer/server.ts";
import type { Command } from "../args.ts";

const DEFAULT_LISTEN = "/run/cocoon/sandboxer.sock";
const DEFAULT_DIR = "/run/cocoon/sandboxer";
const DEFAULT_EVENTS = "/run/containerd/containerd.sock.ttrpc";

export const sandboxer: Command = {
  summary: "Serve containerd's Sandbox API (sandbox controller) and the Task API of its sandboxes",
  usage: "cocoon sandboxer [--listen SOCKET] [--dir DIR] [--events-address SOCKET] [--namespace NS] " +
    `[--delete-on-exit]   (defaults: --listen ${DEFAULT_LISTEN}, --dir ${DEFAULT_DIR} (Task API socket ` +
    `task.sock), --events-address ${DEFAULT_EVENTS} (containerd's ttRPC, "" for none), --namespace k8s.io)`,
  async run(args, ctx) {
    let values: {
      listen?: string;
      dir?: string;
      "events-address"?: string;
      namespace?: string;
      "delete-on-exit"?: boolean;
      flavour?: string;
    };
    try {
      values = parseArgs({
        args: [...args],
        options: {
          listen: { type: "string" },
          dir: { type: "string" },
          "events-address": { type: "string" },
          namespace: { type: "string" },
          "delete-on-exit": { type: "boolean", default: false },
          flavour: { type: "string" },
        },
        strict: true,
      }).values;
    } catch (e) {
      throw new RuntimeError("InvalidArgument", `Invalid arguments for "sandboxer": ${String(e)}`, {
        cause: e,
      });
    }
    const flavour = values.flavour ?? "containerd";
    if (flavour !== "containerd" && flavour !== "isulad") {
      throw new RuntimeError(
        "InvalidArgument",
        `Invalid value "${flavour}" for --flavour: use "containerd" (containerd 2.0 Controller) or "isulad"`,
      );
    }
    const listen = values.listen ?? DEFAULT_LISTEN;
    const dir = values.dir ?? DEFAULT_DIR;
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    const slash = listen.lastIndexOf("/");
    if (slash > 0) await Deno.mkdir(listen.slice(0, slash), { recursive: true, mode: 0o711 });
    const log = createLogger({
      level: ctx.globals.debug ? "debug" : "info",
      ...(ctx.globals.log !== undefined ? { sink: fileSink(ctx.globals.log) } : {}),
      fields: { pid: Deno.pid, subsystem: "sandboxer" },
    });
    setRootLog(log);
    const runtime = await openSandboxRuntime(await ctx.config(), {
      log,
      owner: { kind: "daemon", api: `${dir}/api.sock` },
    });
    const events = {
      ttrpcAddress: values["events-address"] ?? DEFAULT_EVENTS,
      namespace: values.namespace ?? "k8s.io",
    };
    const s = await startSandboxer({ listen, taskDir: dir, runtime, log, events, flavour });
    ctx.printErr(`cocoon sandboxer (${flavour}): listening on ${listen}, Task API at ${s.taskAddress}`);
    const stopped = Promise.withResolvers<void>();
    const stop = () => stopped.resolve();
    for (const sig of ["SIGTERM", "SIGINT"] as const) Deno.addSignalListener(sig, stop);
    try {
      await stopped.promise;
    } finally {
      for (const sig of ["SIGTERM", "SIGINT"] as const) Deno.removeSignalListener(sig, stop);
    }
    await s.close({ deleteSandboxes: values["delete-on-exit"] === true });
    log.info("sandboxer stopped");
    return 0;
  },
};
