/**
 * Task events to containerd: `Events/Forward` on its ttRPC socket (`TTRPC_ADDRESS` as the shim saw
 * it). One ordered queue per containerd: an event is sent only after the one before it was
 * acknowledged (or given up after retries), so create < start < exit < delete always holds.
 *
 * @module
 */
import {
  encodeForwardRequest,
  EVENTS_FORWARD_METHOD,
  EVENTS_SERVICE,
  NAMESPACE_METADATA_KEY,
  type TaskEvent,
} from "../protocol/events.ts";
import { TtrpcClient } from "../protocol/ttrpc/mod.ts";
import type { Logger } from "../log/logger.ts";

const ATTEMPTS = 5;
const CALL_TIMEOUT_MS = 5000;

/** Publishes to one containerd, in order. */
class Queue {
  readonly #address: string;
  readonly #log: Logger;
  #client: TtrpcClient | undefined;
  #tail: Promise<void> = Promise.resolve();

  constructor(address: string, log: Logger) {
    this.#address = address;
    this.#log = log;
  }

  publish(namespace: string, event: TaskEvent): Promise<void> {
    const at = new Date();
    const next = this.#tail.then(() => this.#send(namespace, event, at));
    this.#tail = next;
    return next;
  }

  get idle(): Promise<void> {
    return this.#tail;
  }

  async #send(namespace: string, event: TaskEvent, at: Date): Promise<void> {
    const payload = encodeForwardRequest(event, { namespace, timestamp: at });
    for (let i = 1; i <= ATTEMPTS; i++) {
      try {
        if (this.#client === undefined || this.#client.closed) {
          this.#client = await TtrpcClient.connect(this.#address, { log: this.#log });
        }
        await this.#client.call(EVENTS_SERVICE, EVENTS_FORWARD_METHOD, payload, {
          timeoutMs: CALL_TIMEOUT_MS,
          metadata: { [NAMESPACE_METADATA_KEY]: namespace },
        });
        this.#log.debug("event forwarded", { topic: event.kind, container: event.containerId });
        return;
      } catch (e) {
        this.#client?.close();
        this.#client = undefined;
        if (i === ATTEMPTS) {
          this.#log.warn("event dropped", {
            topic: event.kind,
            container: event.containerId,
            address: this.#address,
            error: e instanceof Error ? e.message : String(e),
          });
          return;
        }
        await new Promise((r) => setTimeout(r, 200 * i));
      }
    }
  }

  close(): void {
    this.#client?.close();
    this.#client = undefined;
  }
}

/** Event queues by containerd ttRPC address. */
export class EventPublisher {
  readonly #queues = new Map<string, Queue>();
  readonly #log: Logger;

  constructor(log: Logger) {
    this.#log = log;
  }

  /** Queues `event`; resolves once it was delivered or dropped. An empty address publishes nothing. */
  publish(address: string, namespace: string, event: TaskEvent): Promise<void> {
    if (address === "" || namespace === "") return Promise.resolve();
    let q = this.#queues.get(address);
    if (q === undefined) {
      q = new Queue(address, this.#log);
      this.#queues.set(address, q);
    }
    return q.publish(namespace, event);
  }

  /** Waits until every queue is empty (bounded by the retries). */
  async flush(): Promise<void> {
    await Promise.all([...this.#queues.values()].map((q) => q.idle));
  }

  close(): void {
    for (const q of this.#queues.values()) q.close();
    this.#queues.clear();
  }
}
