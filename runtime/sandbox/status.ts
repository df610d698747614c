/**
 * The states of sandboxes, containers and processes, and the guards that say which operation is
 * allowed in which state. Pure: no I/O. Every operation file checks its guard first and throws
 * {@link refuse}'s error when it says no, so a refusal reads the same from every front door.
 *
 * ```
 * sandbox:   creating ─▶ ready ◀─▶ paused          container: creating ─▶ created ─▶ running ◀─▶ paused
 *               │          │         │                            │          │           │          │
 *               └──────────┴─────────┴─▶ stopped                  └──────────┴───────────┴──────────┴─▶ stopped
 * ```
 *
 * @module
 */
import { SandboxError } from "../errors.ts";

/** A sandbox: one VM with its agent. Times are ISO-8601 strings (records are JSON). */
export type SandboxStatus =
  | { readonly kind: "creating"; readonly since: string }
  | { readonly kind: "ready"; readonly startedAt: string }
  | { readonly kind: "paused"; readonly startedAt: string; readonly pausedAt: string }
  | { readonly kind: "stopped"; readonly stoppedAt: string; readonly reason: string };

/** A container in a sandbox; `pid` is the guest pid of its init process. */
export type ContainerStatus =
  | { readonly kind: "creating"; readonly since: string }
  | { readonly kind: "created"; readonly pid: number }
  | { readonly kind: "running"; readonly pid: number; readonly startedAt: string }
  | { readonly kind: "paused"; readonly pid: number; readonly startedAt: string }
  | {
    readonly kind: "stopped";
    readonly pid: number;
    /** Exit code, or 128 + signal; null when it is unknown (the VM went away). */
    readonly exitStatus: number | null;
    readonly exitedAt: string;
  };

/** An exec'd process inside a container. */
export type ProcessStatus =
  | { readonly kind: "running"; readonly pid: number; readonly startedAt: string }
  | {
    readonly kind: "exited";
    readonly pid: number;
    readonly exitStatus: number | null;
    readonly exitedAt: string;
  };

// Sandbox guards --------------------------------------------------------------------------------

/** Containers may be created, started, exec'd and signalled only in a ready sandbox. */
export function canCreateContainer(s: SandboxStatus): boolean {
  return s.kind === "ready";
}
/** The whole VM may be paused when it is ready. */
export function canPauseSandbox(s: SandboxStatus): boolean {
  return s.kind === "ready";
}
export function canResumeSandbox(s: SandboxStatus): boolean {
  return s.kind === "paused";
}
/**
 * A sandbox may be deleted when it is stopped, or when none of its containers is alive; `force`
 * deletes it in any state (a half-created one included: that is how a crashed create is cleaned).
 */
export function canDeleteSandbox(
  s: SandboxStatus,
  opts: { readonly force?: boolean; readonly liveContainers?: number } = {},
): boolean {
  if (opts.force === true) return true;
  if (s.kind === "stopped") return true;
  return (s.kind === "ready" || s.kind === "paused") && (opts.liveContainers ?? 0) === 0;
}

// Container guards ------------------------------------------------------------------------------

export function canStart(s: ContainerStatus): boolean {
  return s.kind === "created";
}
/** Signals reach created, running and paused containers (SIGKILL also ends a frozen one). */
export function canKill(s: ContainerStatus): boolean {
  return s.kind === "created" || s.kind === "running" || s.kind === "paused";
}
export function canPause(s: ContainerStatus): boolean {
  return s.kind === "running";
}
export function canResume(s: ContainerStatus): boolean {
  return s.kind === "paused";
}
export function canExec(s: ContainerStatus): boolean {
  return s.kind === "running";
}
/** Without `force` only created and stopped containers may be deleted (runc's rule). */
export function canDelete(s: ContainerStatus, opts: { readonly force?: boolean } = {}): boolean {
  if (opts.force === true) return true;
  return s.kind === "created" || s.kind === "stopped";
}
/** A container whose init process may still run in the guest. */
export function isAlive(s: ContainerStatus): boolean {
  return s.kind === "created" || s.kind === "running" || s.kind === "paused";
}

// Refusals --------------------------------------------------------------------------------------

/**
 * The error for an operation its guard refused:
 * `Cannot start container "c1": it is running`.
 */
export function refuse(
  op: string,
  what: string,
  status: { readonly kind: string },
  hint?: string,
): SandboxError {
  return new SandboxError(
    "FailedPrecondition",
    `Cannot ${op} ${what}: it is ${status.kind}${hint === undefined ? "" : `: ${hint}`}`,
  );
}

/** Current time as an ISO string (one place, so tests can reason about formats). */
export function now(): string {
  return new Date().toISOString();
}
