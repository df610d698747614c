/**
 * Argument types of the command line (kept apart from parsing and commands).
 *
 * @module
 */
import type { Logger } from "../log/logger.ts";
import type { ResolvedConfig } from "../config/schema.ts";
import type { PluginRegistry } from "../plugins/registry.ts";

/** runc's global flags, plus `--config`. */
export interface GlobalOptions {
  readonly root?: string;
  readonly log?: string;
  readonly logFormat: "text" | "json";
  readonly debug: boolean;
  readonly systemdCgroup: boolean;
  readonly config?: string;
  readonly help: boolean;
  readonly version: boolean;
}

/** What every command gets. */
export interface CommandContext {
  readonly globals: GlobalOptions;
  readonly log: Logger;
  /** Loads (once) and returns the effective configuration. */
  config(): Promise<ResolvedConfig>;
  /** The plugin registry for that configuration. */
  registry(): Promise<PluginRegistry>;
  /** User-facing output (stdout). */
  print(text: string): void;
  /** User-facing diagnostics (stderr). */
  printErr(text: string): void;
}

/** A subcommand: parses its own arguments and returns the process exit code. */
export interface Command {
  readonly summary: string;
  readonly usage: string;
  run(args: readonly string[], ctx: CommandContext): Promise<number>;
}
