import assert from "node:assert/strict";
import { createLogger, memorySink } from "./logger.ts";
import { RuntimeError } from "../errors.ts";

Deno.test({
  name: "createLogger() writes JSON lines with child fields and serialised errors",
  permissions: "none",
  fn() {
    const sink = memorySink();
    const log = createLogger({ sink, level: "debug", now: () => 0 }).child({
      subsystem: "qemu",
      sandbox: "sb1",
    });
    log.info("vm started", { pid: 42 });
    log.error("vm failed", { err: new RuntimeError("Internal", "boom", { cause: new Error("inner") }) });
    const [a, b] = sink.lines.map((l) => JSON.parse(l));
    assert.deepEqual(a, {
      ts: "1970-01-01T00:00:00.000Z",
      level: "info",
      subsystem: "qemu",
      sandbox: "sb1",
      msg: "vm started",
      pid: 42,
    });
    assert.equal(b.err.code, "Internal");
    assert.equal(b.err.cause.message, "inner");
  },
});

Deno.test({
  name: "logger.limited drops lines past the per-site budget and reports how many",
  permissions: "none",
  fn() {
    let t = 0;
    const sink = memorySink();
    const log = createLogger({ sink, rate: { perWindow: 2, windowMs: 1000 }, now: () => t });
    for (let i = 0; i < 10; i++) log.limited.warn("guest noise");
    assert.equal(sink.lines.length, 2);
    t = 1500;
    log.limited.warn("guest noise");
    assert.equal(JSON.parse(sink.lines[2] ?? "{}").suppressed, 8);
  },
});

Deno.test({
  name: "createLogger() filters below its level",
  permissions: "none",
  fn() {
    const sink = memorySink();
    const log = createLogger({ sink, level: "warn" });
    log.info("hidden");
    log.warn("shown");
    assert.equal(sink.lines.length, 1);
  },
});
