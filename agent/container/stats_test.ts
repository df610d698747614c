import assert from "node:assert/strict";
import { MemoryFs } from "../sys/_fake.ts";
import { parseKeyValues, parseProcCgroup, readStats } from "./stats.ts";

Deno.test({
  name: "parseProcCgroup() maps controllers and the v2 entry to paths",
  permissions: "none",
  fn() {
    const m = parseProcCgroup("4:memory:/a\n2:cpu,cpuacct:/b\n0::/c\n");
    assert.equal(m.get("memory"), "/a");
    assert.equal(m.get("cpuacct"), "/b");
    assert.equal(m.get(""), "/c");
    assert.deepEqual(parseKeyValues("usage_usec 10\nbad x\n"), { usage_usec: 10 });
  },
});

Deno.test({
  name: "readStats() reads cgroup v2 files of a pure v2 host",
  permissions: "none",
  async fn() {
    const fs = new MemoryFs();
    const r = "/cg";
    fs.files.set(`${r}/cgroup.controllers`, "cpu memory pids");
    fs.files.set(`${r}/c1/cpu.stat`, "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n");
    fs.files.set(`${r}/c1/memory.current`, "4096\n");
    fs.files.set(`${r}/c1/memory.max`, "max\n");
    fs.files.set(`${r}/c1/memory.stat`, "anon 100\nfile 200\n");
    fs.files.set(`${r}/c1/memory.events`, "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n");
    fs.files.set(`${r}/c1/pids.current`, "3\n");
    fs.files.set(`${r}/c1/pids.max`, "42\n");
    const s = await readStats(fs, r, parseProcCgroup("0::/c1\n"));
    assert.deepEqual(s.cpu, { usageNs: 1_500_000, userNs: 1_000_000, systemNs: 500_000 });
    assert.equal(s.memory?.usage, 4096);
    assert.equal(s.memory?.limit, 0);
    assert.equal(s.memory?.stat["file"], 200);
    assert.equal(s.memory?.oomKills, 1);
    assert.equal(s.memory?.failcnt, 4);
    assert.deepEqual(s.pids, { current: 3, limit: 42 });
  },
});

Deno.test({
  name: "readStats() falls back to v1 controllers on a hybrid host",
  permissions: "none",
  async fn() {
    const fs = new MemoryFs();
    const r = "/cg";
    fs.files.set(`${r}/unified/cgroup.controllers`, "");
    fs.files.set(`${r}/unified/x/cpu.stat`, "usage_usec 7\n");
    fs.files.set(`${r}/memory/x/memory.usage_in_bytes`, "8192");
    fs.files.set(`${r}/memory/x/memory.limit_in_bytes`, "9223372036854771712");
    fs.files.set(`${r}/pids/x/pids.current`, "2");
    fs.files.set(`${r}/pids/x/pids.max`, "max");
    const s = await readStats(fs, r, parseProcCgroup("8:pids:/x\n4:memory:/x\n0::/x\n"));
    assert.equal(s.cpu?.usageNs, 7000);
    assert.equal(s.memory?.usage, 8192);
    assert.equal(s.memory?.limit, 0);
    assert.deepEqual(s.pids, { current: 2, limit: 0 });
  },
});
