import assert from "node:assert/strict";
import { mibPerSec, readThroughput, writerInit } from "./stdout_bench.ts";

Deno.test({
  name: "writerInit() writes N MiB in 64 KiB blocks to the agent port, then powers off",
  permissions: "none",
  fn() {
    const init = writerInit(16);
    assert.match(init, /^#!\/bin\/busybox sh\n/);
    assert.match(init, /= cocoon\.agent \]/);
    assert.match(init, /dd if=\/dev\/zero of="\$port" bs=65536 count=256 /);
    assert.match(init, /poweroff -f\n$/);
  },
});

Deno.test({
  name: "mibPerSec() is MiB over seconds between the first and last byte, NaN for no time",
  permissions: "none",
  fn() {
    assert.equal(mibPerSec(8 * 2 ** 20, 1000, 3000), 4);
    assert.ok(Number.isNaN(mibPerSec(1, 5, 5)));
  },
});

Deno.test({
  name: "readThroughput() reads the whole amount and fails on a short stream",
  permissions: "none",
  async fn() {
    const chunk = new Uint8Array(1024);
    const stream = (n: number) => ReadableStream.from(Array.from({ length: n }, () => chunk));
    assert.ok((await readThroughput(stream(4), 4096)) > 0);
    await assert.rejects(readThroughput(stream(2), 4096), /read 2048 of 4096 bytes/);
  },
});
