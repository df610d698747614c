import assert from "node:assert/strict";
import { textProgress } from "./progress.ts";

Deno.test({
  name: "textProgress() prints one line per finished step with elapsed times",
  permissions: "none",
  fn() {
    let t = 0;
    const out: string[] = [];
    const p = textProgress((s) => out.push(s), { live: false, now: () => t });
    p.step("download");
    t = 1500;
    p.step("initrd");
    t = 2000;
    p.done("built");
    assert.deepEqual(out, ["[  1.5s] download (1.5s)\n", "[  2.0s] initrd (0.5s)\n", "[  2.0s] built\n"]);
  },
});

Deno.test({
  name: "textProgress() rewrites a live line in place when live",
  permissions: "none",
  fn() {
    const out: string[] = [];
    const p = textProgress((s) => out.push(s), { live: true, now: () => 0 });
    p.step("download");
    p.done("ok");
    assert.ok(out[0]?.startsWith("\r\x1b[2K"));
    assert.ok(out[0]?.endsWith("download ..."));
  },
});
