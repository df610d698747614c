import assert from "node:assert/strict";
import { readFifo, writeFifo } from "./fifo.ts";

async function mkfifo(path: string): Promise<void> {
  const r = await new Deno.Command("mkfifo", { args: ["-m", "600", path] }).output();
  assert.equal(r.code, 0);
}

Deno.test("readFifo() waits for a writer without ending early, passes its data, ends when it closes", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cocoon-fifo-" });
  try {
    const path = `${dir}/stdin`;
    await mkfifo(path);
    const r = readFifo(path);
    const text = new Response(r.readable).text();
    const early = await Promise.race([
      text.then(() => "ended"),
      new Promise((res) => setTimeout(() => res("waiting"), 400)),
    ]);
    assert.equal(early, "waiting", "no writer yet is not the end");
    const w = writeFifo(path);
    assert.ok(w !== null, "a reader is there now");
    const writer = w.writable.getWriter();
    await writer.write(new TextEncoder().encode("hello"));
    w.close();
    assert.equal(await text, "hello");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writeFifo() is null when nobody reads; readers that never get a writer park no thread", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cocoon-fifo-" });
  try {
    await mkfifo(`${dir}/out`);
    assert.equal(writeFifo(`${dir}/out`), null);
    // More readers than Deno has blocking threads, none of which will ever see a writer (their
    // FIFOs are even removed): file I/O must go on, and each reader ends on close().
    const readers = [];
    for (let i = 0; i < 40; i++) {
      await mkfifo(`${dir}/in${i}`);
      const r = readFifo(`${dir}/in${i}`);
      readers.push({ r, text: new Response(r.readable).text() });
      await Deno.remove(`${dir}/in${i}`);
    }
    const read = Deno.readTextFile("/etc/hostname");
    const within = await Promise.race([
      read.then(() => true),
      new Promise((res) => setTimeout(() => res(false), 3000)),
    ]);
    assert.equal(within, true, "file I/O still runs");
    for (const { r } of readers) r.close();
    assert.deepEqual(await Promise.all(readers.map((x) => x.text)), readers.map(() => ""));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
