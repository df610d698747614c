import assert from "node:assert/strict";
import { processEvents } from "./exec_stream.ts";

/** An endless output stream that counts what was read from it. */
function endless(chunk: number): { stream: ReadableStream<Uint8Array>; pulled: () => number } {
  let n = 0;
  const data = new Uint8Array(chunk).fill(0x61);
  const stream = new ReadableStream<Uint8Array>({
    pull(c) {
      n += chunk;
      c.enqueue(data);
    },
  }, { highWaterMark: 0 });
  return { stream, pulled: () => n };
}

Deno.test("processEvents() stops reading a process's output while the client reads nothing", async () => {
  const out = endless(64 * 1024);
  const err = new ReadableStream<Uint8Array>({ start: (c) => c.close() });
  const events = processEvents(
    "e1",
    out.stream,
    err,
    () => new Promise<number>(() => {}),
    undefined,
    256 * 1024,
  );
  const first = await events.next();
  assert.deepEqual(first.value, { kind: "started", execId: "e1" });
  await new Promise((r) => setTimeout(r, 200)); // a client that reads nothing
  const held = out.pulled();
  assert.ok(held <= 256 * 1024 + 2 * 64 * 1024, `read ${held} bytes for a client that reads nothing`);
  // reading lets it go on
  let got = 0;
  while (got < 1024 * 1024) {
    const e = await events.next();
    if (e.value?.kind === "stdout") got += e.value.data.length;
  }
  assert.ok(out.pulled() >= 1024 * 1024);
  await events.return(undefined);
});
