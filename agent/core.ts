/**
 * The agent's state shared by the RPC service groups: container environment and table, OOM watcher,
 * the mounts made per container, guest paths and clock. Built once by `main.ts` (or a test).
 *
 * @module
 */
import type { Logger } from "../runtime/log/logger.ts";
import type { ContainerEnv } from "./container/env.ts";
import { OomWatcher } from "./container/oom.ts";
import { ContainerTable } from "./container/state.ts";

export const AGENT_VERSION = "0.1.0";
/** Agent API revision; bumped on incompatible changes. */
export const AGENT_PROTOCOL_VERSION = 1;

/** Where the guest's kernel interfaces live (tests point these at fixtures). */
export interface GuestPaths {
  readonly proc: string;
  readonly sys: string;
  /** Where resolv.conf is written (default /etc). */
  readonly etc?: string;
}

export interface AgentCore extends Disposable {
  readonly env: ContainerEnv;
  readonly table: ContainerTable;
  readonly oom: OomWatcher;
  /** Mount points made for each container (unmounted at removal), "" for the sandbox. */
  readonly mounts: Map<string, string[]>;
  readonly paths: GuestPaths;
  /** Sets the wall clock. */
  readonly setTime: (d: Date) => void;
  /** Where bundles go when the host names none. */
  readonly bundleRoot: string;
  readonly log: Logger;
  /** Set by CreateSandbox. */
  sandboxId: string | undefined;
  /** Called after DestroySandbox has answered: the agent exits and the guest powers off. */
  readonly shutdown: () => void;
}

export interface AgentCoreOptions {
  readonly env: ContainerEnv;
  readonly setTime: (d: Date) => void;
  readonly bundleRoot: string;
  readonly paths?: GuestPaths;
  readonly oomIntervalMs?: number;
  /** What DestroySandbox does last (default: nothing; main.ts exits the agent). */
  readonly shutdown?: () => void;
}

export function createAgentCore(o: AgentCoreOptions): AgentCore {
  const table = new ContainerTable();
  const oom = new OomWatcher(o.env, table, { intervalMs: o.oomIntervalMs ?? 500 });
  return {
    env: o.env,
    table,
    oom,
    mounts: new Map(),
    paths: o.paths ?? { proc: "/proc", sys: "/sys" },
    setTime: o.setTime,
    bundleRoot: o.bundleRoot,
    log: o.env.log,
    sandboxId: undefined,
    shutdown: o.shutdown ?? (() => {}),
    [Symbol.dispose]: () => oom.close(),
  };
}
