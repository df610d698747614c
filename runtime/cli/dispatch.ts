/**
 * The command table: one module per verb (crun's `commands[]`, youki's `commands/*.rs`).
 *
 * @module
 */
import type { Command } from "./args.ts";
import { check } from "./commands/check.ts";
import { create } from "./commands/create.ts";
import { delete_ } from "./commands/delete.ts";
import { holder } from "./commands/holder.ts";
import { kill } from "./commands/kill.ts";
import { start } from "./commands/start.ts";
import { state } from "./commands/state.ts";
import { env } from "./commands/env.ts";
import { guest } from "./commands/guest.ts";
import { plugins } from "./commands/plugins.ts";

export const COMMANDS: Readonly<Record<string, Command>> = {
  check,
  env,
  guest,
  plugins,
  // runc-compatible OCI verbs (errors exit 1, as runc's do)
  create,
  start,
  state,
  kill,
  delete: delete_,
  // internal
  __holder: holder,
};

/** Verbs whose failures exit 1 whatever the error, as runc's do (callers read the error text). */
export const RUNC_VERBS: ReadonlySet<string> = new Set([
  "create",
  "start",
  "state",
  "kill",
  "delete",
]);
