/**
 * The command table: one module per verb (crun's `commands[]`, youki's `commands/*.rs`).
 *
 * @module
 */
import type { Command } from "./args.ts";
import { check } from "./commands/check.ts";
import { create } from "./commands/create.ts";
import { daemon } from "./commands/daemon.ts";
import { sandboxer } from "./commands/sandboxer.ts";
import { api } from "./commands/api.ts";
import { metrics } from "./commands/metrics.ts";
import { execGuest } from "./commands/exec_guest.ts";
import { delete_ } from "./commands/delete.ts";
import { events } from "./commands/events.ts";
import { exec } from "./commands/exec.ts";
import { features } from "./commands/features.ts";
import { list } from "./commands/list.ts";
import { checkpoint, restore } from "./commands/not_supported.ts";
import { pause, resume } from "./commands/pause.ts";
import { ps } from "./commands/ps.ts";
import { run } from "./commands/run.ts";
import { spec } from "./commands/spec.ts";
import { update } from "./commands/update.ts";
import { holder } from "./commands/holder.ts";
import { kill } from "./commands/kill.ts";
import { start } from "./commands/start.ts";
import { state } from "./commands/state.ts";
import { env } from "./commands/env.ts";
import { guest } from "./commands/guest.ts";
import { factory } from "./commands/factory.ts";
import { plugins } from "./commands/plugins.ts";
import { waterfall } from "./commands/waterfall.ts";

export const COMMANDS: Readonly<Record<string, Command>> = {
  check,
  env,
  guest,
  factory,
  plugins,
  waterfall,
  daemon,
  sandboxer,
  api,
  metrics,
  "exec-guest": execGuest,
  // runc-compatible OCI verbs (errors exit 1, as runc's do)
  create,
  start,
  state,
  kill,
  delete: delete_,
  exec,
  ps,
  pause,
  resume,
  list,
  events,
  features,
  run,
  spec,
  update,
  checkpoint,
  restore,
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
  "exec",
  "ps",
  "pause",
  "resume",
  "list",
  "events",
  "features",
  "run",
  "spec",
  "update",
  "checkpoint",
  "restore",
]);
