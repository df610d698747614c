/**
 * OOM kills of the daemon's sandboxes: one `monitor()` per sandbox that has tasks, with exit
 * watching off (the task manager waits for exits itself), handing each OOM kill to a callback that
 * publishes `/tasks/oom`. The agent queues the OOM event before it answers the killed init's wait,
 * so the event is published before the task's exit.
 *
 * @module
 */
import type { Logger } from "../log/logger.ts";
import type { MonitorOptions, SandboxEvent } from "../sandbox/monitor.ts";

/** What the relay needs of a sandbox (a `Sandbox`; tests pass a stand-in). */
export interface MonitoredSandbox {
  readonly id: string;
  monitor(opts: MonitorOptions): AsyncIterable<SandboxEvent>;
}

export class OomRelay<S extends MonitoredSandbox> {
  readonly #log: Logger;
  readonly #onOom: (sandbox: S, containerId: string) => void;
  readonly #watching = new Map<S, AbortController>();

  constructor(log: Logger, onOom: (sandbox: S, containerId: string) => void) {
    this.#log = log;
    this.#onOom = onOom;
  }

  /** Starts relaying `sandbox`'s OOM kills (once per sandbox). */
  watch(sandbox: S): void {
    if (this.#watching.has(sandbox)) return;
    const stop = new AbortController();
    this.#watching.set(sandbox, stop);
    const opts: MonitorOptions = { signal: stop.signal, exits: false };
    void (async () => {
      try {
        for await (const e of sandbox.monitor(opts)) {
          if (e.kind === "oom") {
            this.#log.warn("container OOM kill", { sandbox: sandbox.id, container: e.containerId });
            this.#onOom(sandbox, e.containerId);
          }
        }
      } catch (e) {
        if (!stop.signal.aborted) this.#log.warn("OOM monitor ended", { sandbox: sandbox.id, error: e });
      } finally {
        if (this.#watching.get(sandbox) === stop) this.#watching.delete(sandbox);
      }
    })();
  }

  unwatch(sandbox: S): void {
    this.#watching.get(sandbox)?.abort();
    this.#watching.delete(sandbox);
  }

  close(): void {
    for (const stop of this.#watching.values()) stop.abort();
    this.#watching.clear();
  }
}
