/**
 * The real environment of the container operations: Deno.Command, the FFI reaper and console
 * sockets, kill(2).
 *
 * @module
 */
import type { Logger } from "../../runtime/log/logger.ts";
import { type ContainerEnv, denoFs, type OciRuntime } from "../container/env.ts";
import { DenoCommandRunner } from "./command.ts";
import { ffiConsoles } from "./console.ts";
import { killPid } from "./libc.ts";
import { listZombieChildren, Reaper } from "./reaper.ts";

export interface LinuxEnvOptions {
  readonly runtime: OciRuntime;
  readonly stateDir: string;
  readonly log: Logger;
  readonly cgroupRoot?: string;
  /** Also reap zombie orphans nobody tracks (the agent: every child it spawns goes through the runner). */
  readonly reapOrphans?: boolean;
}

/** A real environment plus the reaper to close at the end. */
export function linuxContainerEnv(opts: LinuxEnvOptions): ContainerEnv & Disposable {
  const runner = new DenoCommandRunner();
  const reaper = new Reaper({
    log: opts.log,
    ...(opts.reapOrphans
      ? { orphans: { ownPids: () => runner.ownPids(), listZombies: () => listZombieChildren() } }
      : {}),
  });
  return {
    runtime: opts.runtime,
    runner,
    waiter: reaper,
    consoles: ffiConsoles,
    fs: denoFs,
    signal: killPid,
    stateDir: opts.stateDir,
    cgroupRoot: opts.cgroupRoot ?? "/sys/fs/cgroup",
    log: opts.log,
    [Symbol.dispose]: () => reaper.close(),
  };
}

/** Finds crun (preferred) or runc: the guest userland (/cocoon/bin) first, then the usual places. */
export function detectRuntime(root: string): OciRuntime {
  const candidates: readonly (readonly ["crun" | "runc", string])[] = [
    ["crun", "/cocoon/bin/crun"],
    ["crun", "/usr/bin/crun"],
    ["crun", "/bin/crun"],
    ["runc", "/cocoon/bin/runc"],
    ["runc", "/usr/bin/runc"],
    ["runc", "/usr/sbin/runc"],
  ];
  for (const [kind, path] of candidates) {
    try {
      if (Deno.statSync(path).isFile) return { kind, argv: [path], root };
    } catch {
      // next
    }
  }
  return { kind: "crun", argv: ["crun"], root };
}
