import assert from "node:assert/strict";
import { readFileTail } from "../../../runtime/sys/file_tail.ts";
import { ConsoleCap, trimOnce } from "./console_cap.ts";

Deno.test("trimOnce() keeps the last half of a console log past its cap, and nothing else changes", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cocoon-console-" });
  try {
    const path = `${dir}/console.log`;
    const text = Array.from({ length: 2000 }, (_, i) => `line ${i}\n`).join("");
    await Deno.writeTextFile(path, text);
    assert.equal(await trimOnce(path, 1 << 20), false, "under the cap: untouched");
    assert.equal(await Deno.readTextFile(path), text);
    assert.equal(await trimOnce(path, 4096), true);
    const kept = await Deno.readTextFile(path);
    assert.equal(kept.length, 2048);
    assert.ok(text.endsWith(kept));
    // an appending writer (QEMU opens it with O_APPEND) goes on after the kept tail
    const f = await Deno.open(path, { append: true });
    await f.write(new TextEncoder().encode("after\n"));
    f.close();
    assert.ok((await Deno.readTextFile(path)).endsWith("line 1999\nafter\n"));
    assert.equal(new TextDecoder().decode(await readFileTail(path, 6)), "after\n");
    assert.equal((await readFileTail(`${dir}/missing`, 10)).length, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ConsoleCap holds a file that grows without end under its cap", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cocoon-console-" });
  const path = `${dir}/console.log`;
  const cap = new ConsoleCap(path, 64 * 1024, 20);
  const f = await Deno.open(path, { append: true, create: true });
  try {
    cap.start();
    const chunk = new TextEncoder().encode("x".repeat(1023) + "\n");
    let max = 0;
    for (let i = 0; i < 1024; i++) {
      await f.write(chunk);
      if (i % 64 === 63) {
        await new Promise((r) => setTimeout(r, 30));
        max = Math.max(max, (await Deno.stat(path)).size);
      }
    }
    await new Promise((r) => setTimeout(r, 60));
    const size = (await Deno.stat(path)).size;
    assert.ok(size <= 64 * 1024, `after 1 MiB written the file is ${size} bytes`);
    assert.ok(max <= 64 * 1024 + 64 * 1024, `it never grew far past the cap (max ${max})`);
  } finally {
    cap.stop();
    f.close();
    await Deno.remove(dir, { recursive: true });
  }
});
