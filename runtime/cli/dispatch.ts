/**
 * The command table: one module per verb (crun's `commands[]`, youki's `commands/*.rs`).
 *
 * @module
 */
import type { Command } from "./args.ts";
import { check } from "./commands/check.ts";
import { env } from "./commands/env.ts";
import { guest } from "./commands/guest.ts";
import { plugins } from "./commands/plugins.ts";

export const COMMANDS: Readonly<Record<string, Command>> = {
  check,
  env,
  guest,
  plugins,
};
