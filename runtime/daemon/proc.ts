/**
 * One process the Task API knows about (a container's init or an exec'd process): its status as
 * containerd sees it, its pid and exit, its stdio wiring, and the waiters blocked on its exit.
 *
 * @module
 */
import { RuntimeError } from "../errors.ts";
import type { Sandbox } from "../sandbox/mod.ts";
import type { BundleLog } from "./bundle_log.ts";
import type { LogDriver } from "./log_driver.ts";
import type { StdinCopy, TaskStdio } from "./stdio.ts";

/** containerd.v1.types.Status */
const TaskStatus = { UNKNOWN: 0, CREATED: 1, RUNNING: 2, STOPPED: 3, PAUSED: 4, PAUSING: 5 } as const;
export type TaskStatusValue = (typeof TaskStatus)[keyof typeof TaskStatus];

export interface ProcExit {
  readonly exitStatus: number;
  readonly exitedAt: Date;
}

export type ProcState =
  | { readonly kind: "created" }
  | { readonly kind: "running" }
  | { readonly kind: "paused" }
  | { readonly kind: "stopped"; readonly exit: ProcExit };

/** A process's Task API state. Exit is set once; every waiter, earlier or later, sees it. */
export class Proc {
  readonly containerId: string;
  /** "" for the init process. */
  readonly execId: string;
  readonly stdio: TaskStdio;
  /** The exec's OCI process JSON (execs only). */
  readonly spec: unknown;
  pid = 0;
  /** An exit watcher runs (started by Start, or by a signal to a created init). */
  watched = false;
  #state: ProcState = { kind: "created" };
  readonly #exited = Promise.withResolvers<ProcExit>();

  constructor(containerId: string, execId: string, stdio: TaskStdio, spec: unknown = null) {
    this.containerId = containerId;
    this.execId = execId;
    this.stdio = stdio;
    this.spec = spec;
  }

  get state(): ProcState {
    return this.#state;
  }

  get label(): string {
    return this.execId === ""
      ? `container "${this.containerId}"`
      : `process "${this.execId}" of container "${this.containerId}"`;
  }

  /** Resolves with the exit (at once when it has exited). */
  get exited(): Promise<ProcExit> {
    return this.#exited.promise;
  }

  status(): TaskStatusValue {
    switch (this.#state.kind) {
      case "created":
        return TaskStatus.CREATED;
      case "running":
        return TaskStatus.RUNNING;
      case "paused":
        return TaskStatus.PAUSED;
      case "stopped":
        return TaskStatus.STOPPED;
    }
  }

  setRunning(pid: number): void {
    if (this.#state.kind === "stopped") return;
    this.pid = pid;
    this.#state = { kind: "running" };
  }

  setPaused(paused: boolean): void {
    if (this.#state.kind === "stopped") return;
    this.#state = { kind: paused ? "paused" : "running" };
  }

  /** Records the exit once; returns false when it had already exited. */
  setExited(exit: ProcExit): boolean {
    if (this.#state.kind === "stopped") return false;
    this.#state = { kind: "stopped", exit };
    this.#exited.resolve(exit);
    return true;
  }

  exit(): ProcExit | null {
    return this.#state.kind === "stopped" ? this.#state.exit : null;
  }

  /** @throws {RuntimeError} `NotFound` once exited (containerd's "process already finished"). */
  assertAlive(): void {
    if (this.#state.kind === "stopped") {
      throw new RuntimeError("NotFound", `Cannot signal ${this.label}: process already finished`);
    }
  }
}

/** A containerd task: a container of a pod, with its init and exec'd processes. */
export interface Task {
  readonly id: string;
  /**
   * The container's id in the sandbox core and the guest: the containerd id, or `<id>+<namespace>`
   * when another namespace's task already uses that id (the core's ids are unique on a host).
   */
  readonly coreId: string;
  readonly namespace: string;
  readonly bundle: string;
  readonly group: string;
  readonly ttrpcAddress: string;
  readonly sandbox: Sandbox;
  readonly rootfsMounted: boolean;
  readonly init: Proc;
  readonly execs: Map<string, Proc>;
  readonly io: Map<Proc, { output?: Promise<void>; stdin?: StdinCopy }>;
  /** The init's `binary://` logger, if any. */
  readonly logDriver: LogDriver | undefined;
  /** Lines for containerd's log (the bundle's `log` FIFO). */
  readonly bundleLog: BundleLog;
}

/** The task map's key: namespace and id (a namespace has no "/"). */
export function taskKey(namespace: string, id: string): string {
  return `${namespace}/${id}`;
}

/** A process's key in the supervisor's stdio hold. */
export function procKey(t: Task, p: Proc): string {
  return `${taskKey(t.namespace, t.id)}/${p.execId}`;
}
