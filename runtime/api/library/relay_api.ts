/**
 * Relay of the library API: stdio streams, signals and terminal sizes of a container's init
 * process (no process id) or of an exec'd process, and the {@link Process} handle that bundles
 * them.
 *
 * A process's streams are opened once per handle and shared: the agent hands each byte of output
 * to one reader only, so two readers of the same stdout would each see part of it.
 *
 * @module
 */
import { SandboxError } from "../../errors.ts";
import type { Sandbox as CoreSandbox } from "../../sandbox/sandbox.ts";
import type { ProcessStreams, WindowSize } from "./types.ts";

const key = (containerId: string, processId?: string) => `${containerId}/${processId ?? ""}`;

/** The relay state of one sandbox handle. */
export class Relay {
  readonly #core: () => CoreSandbox;
  readonly #streams = new Map<string, ProcessStreams>();

  constructor(core: () => CoreSandbox) {
    this.#core = core;
  }

  /** The stdio of a process, opened on first use. */
  ioStream(containerId: string, processId?: string): ProcessStreams {
    const k = key(containerId, processId);
    const known = this.#streams.get(k);
    if (known !== undefined) return known;
    const io = this.#core().io(containerId, processId !== undefined ? { exec: processId } : {});
    const s: ProcessStreams = { stdin: io.stdin, stdout: io.stdout, stderr: io.stderr };
    this.#streams.set(k, s);
    return s;
  }

  /** Forgets the streams of a process (it was waited for, or its container deleted). */
  forget(containerId: string, processId?: string): void {
    if (processId !== undefined) this.#streams.delete(key(containerId, processId));
    else {for (const k of [...this.#streams.keys()]) {
        if (k.startsWith(`${containerId}/`)) this.#streams.delete(k);
      }}
  }

  /** Sends a signal (name or number) to a process; `all` signals every process of the container. */
  async signalProcess(
    containerId: string,
    processId: string | undefined,
    signal: string | number,
    opts: { all?: boolean } = {},
  ): Promise<void> {
    await this.#core().act({
      kind: "kill",
      containerId,
      signal,
      opts: {
        ...(processId !== undefined ? { execId: processId } : {}),
        ...(opts.all === true ? { all: true } : {}),
      },
    });
  }

  /** Sets the terminal size of a process that has a terminal. */
  async winsizeProcess(containerId: string, processId: string | undefined, size: WindowSize): Promise<void> {
    for (const [n, what] of [[size.rows, "rows"], [size.columns, "columns"]] as const) {
      if (!Number.isInteger(n) || n < 1 || n > 0xffff) {
        throw new SandboxError("InvalidArgument", `Invalid window size: ${what} "${n}" is not 1-65535`);
      }
    }
    const io = this.#core().io(containerId, processId !== undefined ? { exec: processId } : {});
    await io.resize(size);
  }

  /** Waits for a process to exit and returns its status (exit code, or 128 + signal). */
  async waitProcess(
    containerId: string,
    processId?: string,
    opts: { signal?: AbortSignal } = {},
  ): Promise<number> {
    const core = this.#core();
    const exit = processId === undefined
      ? await core.wait(containerId, opts)
      : await core.waitExec(containerId, processId, opts);
    return exit.exitStatus;
  }
}

/**
 * A running process: a container's init (`id` is undefined) or an exec'd one. Returned by
 * `startContainer` and `enterContainer`.
 */
export class Process {
  readonly #relay: Relay;
  /** The container it runs in. */
  readonly containerId: string;
  /** The exec id, or undefined for the container's init process. */
  readonly id: string | undefined;
  /** Its pid in the guest. */
  readonly pid: number;

  /** @internal Made by the Sandbox handle. */
  constructor(relay: Relay, containerId: string, id: string | undefined, pid: number) {
    this.#relay = relay;
    this.containerId = containerId;
    this.id = id;
    this.pid = pid;
  }

  /** stdin, stdout and stderr as Web Streams (the same objects on every call). */
  get io(): ProcessStreams {
    return this.#relay.ioStream(this.containerId, this.id);
  }

  /** Resolves with the exit status: the exit code, or 128 + the signal that ended it. */
  wait(opts: { signal?: AbortSignal } = {}): Promise<number> {
    return this.#relay.waitProcess(this.containerId, this.id, opts);
  }

  /** Sends a signal (name or number) to the process. */
  signal(signal: string | number): Promise<void> {
    return this.#relay.signalProcess(this.containerId, this.id, signal);
  }

  /** Sets the process's terminal size. */
  resize(size: WindowSize): Promise<void> {
    return this.#relay.winsizeProcess(this.containerId, this.id, size);
  }
}
