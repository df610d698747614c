import assert from "node:assert/strict";
import { parseKbField, parseStatCpuSeconds, processUsage, vmmUsage } from "./proc_usage.ts";

Deno.test({
  name: "parseStatCpuSeconds() adds utime and stime after a command name with spaces",
  permissions: "none",
  fn() {
    const stat = "1234 (qemu (x) y) S 1 2 3 4 5 6 7 8 9 10 250 150 0 0 20 0 1 0 99 0 0";
    assert.equal(parseStatCpuSeconds(stat), 4);
  },
});

Deno.test({
  name: "parseKbField() reads kB fields in bytes and null when absent",
  permissions: "none",
  fn() {
    assert.equal(parseKbField("Name:\tx\nVmRSS:\t  2048 kB\n", "VmRSS"), 2048 * 1024);
    assert.equal(parseKbField("Pss:   10 kB\n", "Pss"), 10240);
    assert.equal(parseKbField("", "Pss"), null);
  },
});

Deno.test({
  name: "vmmUsage() reads this process's usage and is null for processes that do not exist",
  // Deno asks for every permission before reading /proc/<pid>/.
  permissions: "inherit",
  async fn() {
    const me = await processUsage(Deno.pid);
    assert.ok(me !== null && me.rssBytes > 1 << 20 && me.cpuSeconds >= 0);
    assert.equal(await vmmUsage([2 ** 22 + 7]), null);
    // A process whose memory stays put (this one's moves with its garbage collector): the sum over
    // it and a pid that does not exist is its own usage.
    const sleeper = new Deno.Command("sleep", { args: ["30"], stdout: "null", stderr: "null" }).spawn();
    try {
      await new Promise((r) => setTimeout(r, 100));
      const alone = await processUsage(sleeper.pid);
      const both = await vmmUsage([sleeper.pid, 2 ** 22 + 7]);
      assert.ok(alone !== null && both !== null);
      assert.equal(both.rssBytes, alone.rssBytes);
    } finally {
      sleeper.kill("SIGKILL");
      await sleeper.status;
    }
  },
});
