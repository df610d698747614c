import assert from "node:assert/strict";
import { countCpuList, meminfoKb, onlineCpuMem } from "./details.ts";

Deno.test({
  name: "countCpuList() counts kernel CPU lists and meminfoKb() reads fields",
  permissions: "none",
  fn() {
    assert.equal(countCpuList("0-3,5\n"), 5);
    assert.equal(countCpuList("0"), 1);
    assert.equal(meminfoKb("MemTotal:  1024 kB\nMemFree: 5 kB\n", "MemFree"), 5);
    assert.equal(meminfoKb("", "MemTotal"), undefined);
  },
});

Deno.test({
  name: "onlineCpuMem() writes 1 to offline CPUs and online to offline memory blocks",
  permissions: { read: true, write: true },
  async fn() {
    const sys = await Deno.makeTempDir();
    try {
      const cpu = `${sys}/devices/system/cpu`;
      const mem = `${sys}/devices/system/memory`;
      for (const [d, v] of [["cpu1", "0"], ["cpu2", "1"]]) {
        await Deno.mkdir(`${cpu}/${d}`, { recursive: true });
        await Deno.writeTextFile(`${cpu}/${d}/online`, v ?? "");
      }
      await Deno.mkdir(`${mem}/memory8`, { recursive: true });
      await Deno.writeTextFile(`${mem}/memory8/state`, "offline\n");
      const r = await onlineCpuMem({ proc: "/proc", sys }, {});
      assert.deepEqual(r, { cpus: 1, memoryBlocks: 1 });
      assert.equal(await Deno.readTextFile(`${cpu}/cpu1/online`), "1");
      assert.equal(await Deno.readTextFile(`${mem}/memory8/state`), "online");
    } finally {
      await Deno.remove(sys, { recursive: true });
    }
  },
});
