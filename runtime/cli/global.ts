/**
 * Splits `cocoon [global flags] <verb> [verb args]`. Global flags are runc's (`--root`, `--log`,
 * `--log-format`, `--debug`, `--systemd-cgroup`) plus `--config`; they may come before the verb.
 *
 * @module
 */
import { RuntimeError } from "../errors.ts";
import type { GlobalOptions } from "./args.ts";

const WITH_VALUE = new Set(["--root", "--log", "--log-format", "--config", "--criu", "--rootless"]);
const BOOLEAN = new Set(["--debug", "--systemd-cgroup", "--help", "-h", "--version", "-v"]);

export interface SplitArgs {
  readonly globals: GlobalOptions;
  readonly verb?: string;
  readonly rest: readonly string[];
}

/** Parses the global flags up to the first non-flag word (the verb). */
export function splitGlobalArgs(argv: readonly string[]): SplitArgs {
  const g: { -readonly [K in keyof GlobalOptions]: GlobalOptions[K] } = {
    logFormat: "text",
    debug: false,
    systemdCgroup: false,
    help: false,
    version: false,
  };
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith("-")) break;
    const eq = a.indexOf("=");
    const name = a.startsWith("--") && eq > 0 ? a.slice(0, eq) : a;
    if (BOOLEAN.has(name)) {
      const on = eq > 0 ? a.slice(eq + 1) !== "false" : true;
      if (name === "--debug") g.debug = on;
      else if (name === "--systemd-cgroup") g.systemdCgroup = on;
      else if (name === "--help" || name === "-h") g.help = on;
      else g.version = on;
      continue;
    }
    if (!WITH_VALUE.has(name)) {
      throw new RuntimeError("InvalidArgument", `Unknown global flag "${name}": see \`cocoon --help\``);
    }
    let value: string | undefined;
    if (eq > 0) value = a.slice(eq + 1);
    else value = argv[++i];
    if (value === undefined) throw new RuntimeError("InvalidArgument", `Flag "${name}" needs a value`);
    switch (name) {
      case "--root":
        g.root = value;
        break;
      case "--log":
        g.log = value;
        break;
      case "--config":
        g.config = value;
        break;
      case "--log-format":
        if (value !== "text" && value !== "json") {
          throw new RuntimeError(
            "InvalidArgument",
            `Flag "--log-format" must be text or json: current value is "${value}"`,
          );
        }
        g.logFormat = value;
        break;
      default:
        break; // --criu, --rootless: accepted for runc compatibility, unused
    }
  }
  const verb = argv[i];
  return verb === undefined ? { globals: g, rest: [] } : { globals: g, verb, rest: argv.slice(i + 1) };
}
