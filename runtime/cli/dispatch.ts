/**
 * The command table: one module per verb (crun's `commands[]`, youki's `commands/*.rs`).
 *
 * @module
 */
import type { Command } from "./args.ts";

/**
 * Each verb's module, loaded when that verb runs: a runc-style verb is a new process each time
 * (podman and Docker call 5-6 per container), so it loads only its own code.
 */
export const COMMANDS: Readonly<Record<string, () => Promise<Command>>> = {
  check: () => import("./commands/check.ts").then((m) => m.check),
  env: () => import("./commands/env.ts").then((m) => m.env),
  guest: () => import("./commands/guest.ts").then((m) => m.guest),
  factory: () => import("./commands/factory.ts").then((m) => m.factory),
  plugins: () => import("./commands/plugins.ts").then((m) => m.plugins),
  waterfall: () => import("./commands/waterfall.ts").then((m) => m.waterfall),
  daemon: () => import("./commands/daemon.ts").then((m) => m.daemon),
  sandboxer: () => import("./commands/sandboxer.ts").then((m) => m.sandboxer),
  api: () => import("./commands/api.ts").then((m) => m.api),
  metrics: () => import("./commands/metrics.ts").then((m) => m.metrics),
  "exec-guest": () => import("./commands/exec_guest.ts").then((m) => m.execGuest),
  // runc-compatible OCI verbs (errors exit 1, as runc's do)
  create: () => import("./commands/create.ts").then((m) => m.create),
  start: () => import("./commands/start.ts").then((m) => m.start),
  state: () => import("./commands/state.ts").then((m) => m.state),
  kill: () => import("./commands/kill.ts").then((m) => m.kill),
  delete: () => import("./commands/delete.ts").then((m) => m.delete_),
  exec: () => import("./commands/exec.ts").then((m) => m.exec),
  ps: () => import("./commands/ps.ts").then((m) => m.ps),
  pause: () => import("./commands/pause.ts").then((m) => m.pause),
  resume: () => import("./commands/pause.ts").then((m) => m.resume),
  list: () => import("./commands/list.ts").then((m) => m.list),
  events: () => import("./commands/events.ts").then((m) => m.events),
  features: () => import("./commands/features.ts").then((m) => m.features),
  run: () => import("./commands/run.ts").then((m) => m.run),
  spec: () => import("./commands/spec.ts").then((m) => m.spec),
  update: () => import("./commands/update.ts").then((m) => m.update),
  checkpoint: () => import("./commands/not_supported.ts").then((m) => m.checkpoint),
  restore: () => import("./commands/not_supported.ts").then((m) => m.restore),
  // internal
  __holder: () => import("./commands/holder.ts").then((m) => m.holder),
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
