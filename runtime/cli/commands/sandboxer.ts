/**
 * `cocoon sandboxer`: has the host daemon serve containerd 2.0's Sandbox API
 * (`containerd.services.sandbox.v1.Controller`, gRPC on a unix socket), or iSulad's, with the Task
 * API that Start points containerd at beside it (runtime/daemon/sandboxers.ts). The daemon (started
 * when none runs, `$COCOON_DAEMON_DIR`) owns the sandboxes; this command stays in the foreground
 * for an init system, serves again after a daemon restart, and on SIGTERM/SIGINT stops the
 * Controller (`--delete-on-exit`: deleting its sandboxes). Configure containerd with
 * configs/containerd/sandboxer.toml.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { RuntimeError } from "../../errors.ts";
import { daemonDir, daemonPaths } from "../../shim/address.ts";
import { canConnect, controlCall, ensureDaemon } from "../../shim/daemon_client.ts";
import type { Command } from "../args.ts";

/** How often the command checks that the daemon still serves its Controller, ms. */
const WATCH_MS = 2000;

/** `p` from the working directory (the daemon that serves it runs elsewhere). */
function absolute(p: string, flag: string): string {
  if (p === "" || p.includes("\0")) {
    throw new RuntimeError("InvalidArgument", `Invalid value "${p}" for ${flag}`);
  }
  return (p.startsWith("/") ? p : `${Deno.cwd()}/${p}`).replace(/\/+$/, "");
}

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
    const listen = absolute(values.listen ?? DEFAULT_LISTEN, "--listen");
    const dir = absolute(values.dir ?? DEFAULT_DIR, "--dir");
    const cfg = await ctx.config();
    const request = {
      listen,
      dir,
      flavour,
      events: {
        ttrpcAddress: values["events-address"] ?? DEFAULT_EVENTS,
        namespace: values.namespace ?? "k8s.io",
      },
      // the daemon opens this process's configuration for these sandboxes (none: its own)
      ...(cfg.source.file.startsWith("/") ? { configPath: cfg.source.file } : {}),
    };
    const paths = daemonPaths(daemonDir());
    const serve = async (): Promise<string> => {
      // a daemon started here runs on this configuration, so its own API sees these sandboxes
      await ensureDaemon(
        paths,
        request.configPath !== undefined ? { env: { COCOON_CONFIG: request.configPath } } : {},
      );
      const r = await controlCall(paths, "ServeSandboxer", request);
      const address = typeof r === "object" && r !== null && "taskAddress" in r ? r.taskAddress : undefined;
      if (typeof address !== "string") {
        throw new RuntimeError(
          "Internal",
          `The Cocoon daemon answered ServeSandboxer without a Task API address`,
        );
      }
      return address;
    };
    const taskAddress = await serve();
    ctx.printErr(
      `cocoon sandboxer (${flavour}): listening on ${listen}, Task API at ${taskAddress} ` +
        `(served by cocoon daemon in ${paths.dir})`,
    );
    const stopped = Promise.withResolvers<void>();
    const stop = () => stopped.resolve();
    for (const sig of ["SIGTERM", "SIGINT"] as const) Deno.addSignalListener(sig, stop);
    // A daemon that died and came back (or was restarted) serves the Controller again: the
    // sandboxes it owned are adopted on their next call.
    let stopping = false;
    let tick: Promise<void> | undefined;
    const watch = setInterval(() => {
      tick ??= (async () => {
        if (await canConnect(paths.socket) && await canConnect(listen)) return;
        if (stopping) return;
        ctx.log.warn("the daemon no longer serves the Controller: asking again", { listen });
        await serve().catch((e) => ctx.log.error("cannot serve the Controller again", { error: e }));
      })().finally(() => (tick = undefined));
    }, WATCH_MS);
    try {
      await stopped.promise;
    } finally {
      stopping = true;
      clearInterval(watch);
      // a check under way must not serve again after the stop
      await tick;
      for (const sig of ["SIGTERM", "SIGINT"] as const) Deno.removeSignalListener(sig, stop);
    }
    await controlCall(paths, "StopSandboxer", { listen, deleteSandboxes: values["delete-on-exit"] === true });
    return 0;
  },
};
