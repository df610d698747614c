import assert from "node:assert/strict";
import { createLogger, nullSink } from "../log/logger.ts";
import type { MonitorOptions, SandboxEvent } from "../sandbox/events.ts";
import { OomRelay } from "./oom.ts";

/** A sandbox whose monitor yields the events pushed to it until its signal aborts. */
class FakeSandbox {
  readonly id = "sb1";
  readonly asked: MonitorOptions[] = [];
  readonly #events: SandboxEvent[] = [];
  #wake: (() => void) | undefined;

  push(e: SandboxEvent): void {
    this.#events.push(e);
    this.#wake?.();
  }

  async *monitor(opts: MonitorOptions): AsyncGenerator<SandboxEvent> {
    this.asked.push(opts);
    opts.signal?.addEventListener("abort", () => this.#wake?.(), { once: true });
    while (opts.signal?.aborted !== true) {
      const e = this.#events.shift();
      if (e !== undefined) yield e;
      else await new Promise<void>((r) => (this.#wake = r));
    }
  }
}

Deno.test({
  name: "OomRelay hands each OOM kill of a watched sandbox to its callback, once per sandbox, without exits",
  permissions: "none",
  async fn() {
    const seen: string[] = [];
    const relay = new OomRelay<FakeSandbox>(
      createLogger({ sink: nullSink }),
      (sb, id) => seen.push(`${sb.id}/${id}`),
    );
    const sb = new FakeSandbox();
    relay.watch(sb);
    relay.watch(sb);
    const at = new Date().toISOString();
    sb.push({ kind: "exit", containerId: "c1", exitStatus: 0, at });
    sb.push({ kind: "oom", containerId: "c1", at });
    for (let i = 0; i < 50 && seen.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
    assert.deepEqual(seen, ["sb1/c1"]);
    assert.equal(sb.asked.length, 1, "one monitor per sandbox");
    assert.equal(sb.asked[0]?.exits, false);
    relay.unwatch(sb);
    assert.equal(sb.asked[0]?.signal?.aborted, true);
    relay.close();
  },
});

Deno.test({
  name: "OomRelay publishes one OOM kill per container a window, however many the guest sends",
  permissions: "none",
  async fn() {
    const seen: string[] = [];
    const relay = new OomRelay<FakeSandbox>(
      createLogger({ sink: nullSink }),
      (sb, id) => seen.push(`${sb.id}/${id}`),
      { windowMs: 200 },
    );
    const sb = new FakeSandbox();
    relay.watch(sb);
    const at = new Date().toISOString();
    for (let i = 0; i < 10_000; i++) sb.push({ kind: "oom", containerId: i % 2 === 0 ? "c1" : "c2", at });
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(seen.sort(), ["sb1/c1", "sb1/c2"]);
    await new Promise((r) => setTimeout(r, 250));
    sb.push({ kind: "oom", containerId: "c1", at });
    for (let i = 0; i < 50 && seen.length < 3; i++) await new Promise((r) => setTimeout(r, 5));
    assert.deepEqual(seen, ["sb1/c1", "sb1/c2", "sb1/c1"]);
    relay.close();
  },
});
