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
    const both = await vmmUsage([Deno.pid, 2 ** 22 + 7]);
    assert.ok(both !== null && both.rssBytes >= me.rssBytes);
  },
});
