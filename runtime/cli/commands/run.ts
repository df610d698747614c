import { RuntimeError } from "../../errors.ts";
import { removeContainerState } from "../../holder/cleanup.ts";
import { Holder } from "../../holder/holder.ts";
import { ociPaths, ociRoot } from "../../holder/paths.ts";
import { type ContainerId, containerId } from "../../ids.ts";
import { loadBundle, type OciBundle, resolvePath } from "../../oci/bundle.ts";
import { minimalSpec, parseOciSpec } from "../../oci/spec.ts";
import type { Command, CommandContext } from "../args.ts";
import { idArg, type OciEnv, ociEnv, parseVerb } from "../oci_args.ts";
import { parseBytes } from "../oci_resources.ts";
import { rawTerminal } from "../../sys/libc_fd.ts";
import { createLogger, stderrSink } from "../../log/logger.ts";
import { create } from "./create.ts";
import { start } from "./start.ts";

const FORWARDED: readonly Deno.Signal[] = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2"];

export const run: Command = {
  summary:
    "Run a container in the foreground and exit with its status (--rootfs DIR -- CMD: no bundle needed)",
  usage: "cocoon run --rootfs DIR [--tty] [--interactive] [--memory M] [--cpus N] -- CMD [ARGS...]\n" +
    "       cocoon run [--bundle DIR] [--detach] [--pid-file F] [--console-socket S] <container-id>",
  async run(args, ctx) {
    const { values, positionals } = parseVerb("run", args, {
      rootfs: { type: "string" },
      tty: { type: "boolean", short: "t" },
      interactive: { type: "boolean", short: "i" },
      memory: { type: "string", short: "m" },
      cpus: { type: "string" },
      name: { type: "string" },
      bundle: { type: "string", short: "b" },
      detach: { type: "boolean", short: "d" },
      "pid-file": { type: "string" },
      "console-socket": { type: "string" },
      "no-pivot": { type: "boolean" },
      "no-new-keyring": { type: "boolean" },
      "preserve-fds": { type: "string" },
      "keep": { type: "boolean" },
    });
    // The container's output shares this terminal: only errors are logged here (all with --debug).
    const quiet = ctx.globals.log === undefined && !ctx.globals.debug
      ? createLogger({ level: "error", sink: stderrSink(), fields: { pid: Deno.pid } })
      : ctx.log;
    const env = await ociEnv(ctx, quiet);
    const fctx: CommandContext = { ...ctx, log: quiet };
    if (values.rootfs !== undefined) {
      // For people: a spec built from the arguments, a throw-away bundle, removed afterwards.
      if (positionals.length === 0) {
        throw new RuntimeError("InvalidArgument", 'Invalid arguments for "run": give the command after "--"');
      }
      const rootfs = resolvePath(Deno.cwd(), values.rootfs);
      const raw = minimalSpec(positionals, { terminal: values.tty === true, rootfs });
      const annotations: Record<string, string> = {};
      if (values.memory !== undefined) {
        const mib = Math.ceil(parseBytes(values.memory, "--memory") / (1024 * 1024));
        annotations["io.cocoon.config.hypervisor.default_memory"] = String(mib);
      }
      if (values.cpus !== undefined) {
        const n = Number(values.cpus);
        if (!Number.isInteger(n) || n < 1) {
          throw new RuntimeError(
            "InvalidArgument",
            `Invalid --cpus "${values.cpus}": expected a whole number of vCPUs`,
          );
        }
        annotations["io.cocoon.config.hypervisor.default_vcpus"] = String(n);
      }
      const spec = parseOciSpec({ ...raw, annotations }, "cocoon run");
      const st = await Deno.stat(rootfs).catch(() => null);
      if (st === null) throw new RuntimeError("NotFound", `Cannot use rootfs "${rootfs}": it does not exist`);
      const id = containerId(values.name ?? `run-${crypto.randomUUID().slice(0, 8)}`);
      return await foreground(fctx, env, id, { dir: rootfs, spec, rootfs }, {
        tty: values.tty === true,
        stdin: values.interactive === true || values.tty === true,
      });
    }
    const id = idArg("run", positionals);
    if (values.detach === true) {
      const createArgs = args.filter((a) => a !== "--detach" && a !== "-d");
      const code = await create.run(createArgs, ctx);
      if (code !== 0) return code;
      return await start.run([id], ctx);
    }
    if (Number(values["preserve-fds"] ?? "0") > 0) {
      throw new RuntimeError(
        "Unimplemented",
        `Cannot run container "${id}": --preserve-fds is not supported`,
      );
    }
    const bundle = await loadBundle(values.bundle ?? Deno.cwd());
    return await foreground(fctx, env, id, bundle, {
      tty: bundle.spec.process?.terminal === true && values["console-socket"] === undefined,
      stdin: true,
      ...(values["console-socket"] !== undefined ? { consoleSocket: values["console-socket"] } : {}),
    });
  },
};

/** This process holds the container (as the holder would), starts it, waits, and removes it. */
async function foreground(
  ctx: CommandContext,
  env: OciEnv,
  id: ContainerId,
  bundle: OciBundle,
  opts: { tty: boolean; stdin: boolean; consoleSocket?: string },
): Promise<number> {
  const paths = ociPaths(env.stateDir, id);
  await Deno.mkdir(ociRoot(env.stateDir), { recursive: true, mode: 0o711 });
  try {
    await Deno.mkdir(paths.dir, { mode: 0o700 });
  } catch (e) {
    if (e instanceof Deno.errors.AlreadyExists) {
      throw new RuntimeError("AlreadyExists", `Cannot run container "${id}": container with id exists`, {
        cause: e,
      });
    }
    throw e;
  }
  const rt = await env.runtime();
  const raw = opts.tty && Deno.stdin.isTerminal();
  const ac = new AbortController();
  const held: { holder?: Holder } = {};
  const onSignal = (s: Deno.Signal) => () => {
    const h = held.holder;
    if (h === undefined) return ac.abort(new Error(`received ${s}`));
    h.sandbox.act({ kind: "kill", containerId: id, signal: s }).catch((e) =>
      ctx.log.warn("cannot forward signal", { signal: s, error: e })
    );
  };
  const listeners = FORWARDED.map((s) => [s, onSignal(s)] as const);
  for (const [s, l] of listeners) Deno.addSignalListener(s, l);
  let resize: (() => void) | undefined;
  let restore: (() => void) | undefined;
  try {
    const h = await Holder.create({
      rt,
      id,
      bundle,
      paths,
      log: ctx.log,
      signal: ac.signal,
      terminalOnStdio: opts.tty,
      stdio: {
        stdin: opts.stdin ? Deno.stdin.readable : null,
        stdout: Deno.stdout.writable,
        stderr: Deno.stderr.writable,
      },
      ...(opts.consoleSocket !== undefined ? { consoleSocket: opts.consoleSocket } : {}),
    });
    held.holder = h;
    if (raw) {
      restore = rawTerminal(0);
      const io = h.sandbox.io(id);
      resize = () => {
        const s = Deno.consoleSize();
        io.resize({ rows: s.rows, columns: s.columns }).catch(() => {});
      };
      resize();
      Deno.addSignalListener("SIGWINCH", resize);
    }
    await h.sandbox.act({ kind: "start-container", containerId: id });
    h.watchExit();
    return await h.done;
  } finally {
    restore?.();
    if (resize !== undefined) Deno.removeSignalListener("SIGWINCH", resize);
    for (const [s, l] of listeners) Deno.removeSignalListener(s, l);
    await removeContainerState(rt, id, paths, ctx.log).catch((e) =>
      ctx.log.warn("cleanup failed", { error: e })
    );
  }
}
