/**
 * OOM kills of the daemon's sandboxes: one `monitor()` per sandbox that has tasks, with exit
 * watching off (the task manager waits for exits itself), handing each OOM kill to a callback that
 * publishes `/tasks/oom`. The agent queues the OOM event before it answers the killed init's wait,
 * so the event is published before the task's exit.
 *
 * The guest decides how often OOM events come: per container, one is published a window (1 s by
 * default); the ones in between are counted and named in the next published one's log line.
 *
 * @module
 */
import type { Logger } from "../log/logger.ts";
import type { MonitorOptions, SandboxEvent } from "../sandbox/events.ts";

/** What the relay needs of a sandbox (a `Sandbox`; tests pass a stand-in). */
export interface MonitoredSandbox {
  readonly id: string;
  monitor(opts: MonitorOptions): AsyncIterable<SandboxEvent>;
}

export class OomRelay<S extends MonitoredSandbox> {
  readonly #log: Logger;
  readonly #onOom: (sandbox: S, containerId: string) => void;
  readonly #watching = new Map<S, AbortController>();
  readonly #windowMs: number;
  /** Per sandbox/container: when its last OOM was published, and how many came since. */
  readonly #paced = new Map<string, { at: number; coalesced: number }>();

  constructor(
    log: Logger,
    onOom: (sandbox: S, containerId: string) => void,
    opts: { windowMs?: number } = {},
  ) {
    this.#log = log;
    this.#onOom = onOom;
    this.#windowMs = opts.windowMs ?? 1000;
  }

  /** Whether this OOM kill is published (false: coalesced into the window's first one). */
  #pace(key: string): { publish: boolean; coalesced: number } {
    const now = Date.now();
    const p = this.#paced.get(key);
    if (p !== undefined && now - p.at < this.#windowMs) {
      p.coalesced++;
      return { publish: false, coalesced: p.coalesced };
    }
    this.#paced.set(key, { at: now, coalesced: 0 });
    return { publish: true, coalesced: p?.coalesced ?? 0 };
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
            const { publish, coalesced } = this.#pace(`${sandbox.id}/${e.containerId}`);
            if (!publish) continue;
            this.#log.warn("container OOM kill", {
              sandbox: sandbox.id,
              container: e.containerId,
              ...(coalesced > 0 ? { coalescedBefore: coalesced } : {}),
            });
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
    for (const k of [...this.#paced.keys()]) if (k.startsWith(`${sandbox.id}/`)) this.#paced.delete(k);
  }

  close(): void {
    for (const stop of this.#watching.values()) stop.abort();
    this.#watching.clear();
    this.#paced.clear();
  }
}
