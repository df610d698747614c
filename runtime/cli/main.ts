/**
 * Command-line entry: global flags, logging set-up, dispatch to a verb, and the one place where
 * errors become messages and exit codes.
 *
 * @module
 */
import { exitCodeOf, isRuntimeError, RuntimeError } from "../errors.ts";
import { createLogger, fileSink, type Logger, setRootLog, stderrSink } from "../log/logger.ts";
import type { ResolvedConfig } from "../config/schema.ts";
import type { PluginRegistry } from "../plugins/registry.ts";
import type { CommandContext, GlobalOptions } from "./args.ts";
import { COMMANDS, RUNC_VERBS } from "./dispatch.ts";
import { splitGlobalArgs } from "./global.ts";
import { OCI_SPEC_VERSION, VERSION } from "./version.ts";

const enc = new TextEncoder();
// deno-lint-ignore no-console
const print = (t: string) => console.log(t);
const printErr = (t: string) => void Deno.stderr.writeSync(enc.encode(t.endsWith("\n") ? t : `${t}\n`));

/** Runs the CLI and returns the exit code. */
export async function runCli(argv: readonly string[]): Promise<number> {
  let globals: GlobalOptions | undefined;
  let log: Logger | undefined;
  let verb: string | undefined;
  try {
    const split = splitGlobalArgs(argv);
    globals = split.globals;
    log = makeLogger(globals);
    setRootLog(log);
    if (globals.version || split.verb === "version") {
      print(`cocoon version ${VERSION}\nspec: ${OCI_SPEC_VERSION}\ndeno: ${Deno.version.deno}`);
      return 0;
    }
    if (split.verb === undefined || split.verb === "help" || (globals.help && split.verb === undefined)) {
      print(await helpText());
      return split.verb === undefined && !globals.help ? 2 : 0;
    }
    verb = split.verb;
    const load = Object.hasOwn(COMMANDS, split.verb) ? COMMANDS[split.verb] : undefined;
    if (load === undefined) {
      throw new RuntimeError("InvalidArgument", `Unknown command "${split.verb}": see \`cocoon --help\``);
    }
    const cmd = await load();
    if (globals.help || split.rest.includes("--help") || split.rest.includes("-h")) {
      print(`${cmd.summary}\n\nUsage: ${cmd.usage}`);
      return 0;
    }
    return await cmd.run(split.rest, makeContext(globals, log));
  } catch (e) {
    const err = isRuntimeError(e)
      ? e
      : new RuntimeError("Internal", e instanceof Error ? e.message : String(e), { cause: e });
    // runc writes errors to --log; callers such as containerd's runc shim read them from there.
    if (globals?.log !== undefined && log) log.error(err.message, { err: e });
    else log?.debug("command failed", { err: e });
    printErr(`cocoon: ${err.message}`);
    return verb !== undefined && RUNC_VERBS.has(verb) ? 1 : exitCodeOf(err.code);
  }
}

/**
 * Entry when started as `containerd-shim-cocoon-v2` (containerd shim v2 binary: `start`, `delete`;
 * the Task API itself is served by `cocoon daemon`).
 */
export async function runShimCli(argv: readonly string[]): Promise<number> {
  const { runShim } = await import("../shim/main.ts");
  return await runShim(argv, {
    out: (b) => {
      let off = 0;
      while (off < b.length) off += Deno.stdout.writeSync(b.subarray(off));
    },
    err: printErr,
    env: (n) => Deno.env.get(n),
    cwd: Deno.cwd(),
  });
}

function makeLogger(g: GlobalOptions): Logger {
  const level = g.debug ? "debug" : g.log ? "info" : "warn";
  const sink = g.log ? fileSink(g.log) : stderrSink();
  return createLogger({ level, sink, fields: { pid: Deno.pid } });
}

function makeContext(globals: GlobalOptions, log: Logger): CommandContext {
  let cfg: Promise<ResolvedConfig> | undefined;
  let reg: Promise<PluginRegistry> | undefined;
  // loaded when a command first asks (the daemon's supervisor never does)
  const config =
    () => (cfg ??= import("../config/load.ts").then((m) => m.loadConfig({ path: globals.config })));
  return {
    globals,
    log,
    config,
    registry:
      () => (reg ??= config().then(async (c) =>
        (await import("../plugins/registry.ts")).createRegistry(c.plugins.paths, c.plugins.integrity)
      )),
    print,
    printErr,
  };
}

async function helpText(): Promise<string> {
  const listed = Object.entries(COMMANDS).filter(([name]) => !name.startsWith("__"));
  const verbs =
    (await Promise.all(listed.map(async ([name, load]) => `  ${name.padEnd(10)} ${(await load()).summary}`)))
      .join("\n");
  return `cocoon ${VERSION}: a secure container runtime, one microVM per pod

Usage: cocoon [global options] <command> [options]

Commands:
${verbs}
  version    Print the version

Global options (runc-compatible):
  --root DIR            state directory for the OCI commands
  --log FILE            write JSON-lines logs to FILE instead of stderr
  --log-format text|json
  --debug               log at debug level
  --systemd-cgroup      accepted for runc compatibility
  --config FILE         configuration file (else $COCOON_CONFIG, /etc/cocoon/configuration.toml, built-in)
  -h, --help            help
  -v, --version         version`;
}
