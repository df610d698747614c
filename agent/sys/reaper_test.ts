import assert from "node:assert/strict";
import { decodeWaitStatus, parseRightsFds, type WaitResult } from "./libc.ts";
import { exitCodeOf, parseProcStat, Reaper } from "./reaper.ts";

Deno.test({
  name: "decodeWaitStatus() decodes exits, signals and stops",
  permissions: "none",
  fn() {
    assert.deepEqual(decodeWaitStatus(7 << 8), { kind: "exited", code: 7 });
    assert.deepEqual(decodeWaitStatus(9), { kind: "signaled", signal: 9 });
    assert.deepEqual(decodeWaitStatus(9 | 0x80), { kind: "signaled", signal: 9 }); // core dumped
    assert.deepEqual(decodeWaitStatus((19 << 8) | 0x7f), { kind: "running" }); // stopped
    assert.equal(exitCodeOf({ kind: "signaled", signal: 9 }), 137);
    assert.equal(exitCodeOf({ kind: "exited", code: 0 }), 0);
  },
});

Deno.test({
  name: "parseRightsFds() reads fds from an SCM_RIGHTS control message",
  permissions: "none",
  fn() {
    const buf = new Uint8Array(64);
    const v = new DataView(buf.buffer);
    v.setBigUint64(0, 20n, true); // header 16 + one fd
    v.setInt32(8, 1, true);
    v.setInt32(12, 1, true);
    v.setInt32(16, 42, true);
    assert.deepEqual(parseRightsFds(buf, 24), [42]);
    v.setInt32(12, 2, true); // SCM_CREDENTIALS: ignored
    assert.deepEqual(parseRightsFds(buf, 24), []);
  },
});

Deno.test({
  name: "parseProcStat() reads state and ppid even when comm holds spaces and parens",
  permissions: "none",
  fn() {
    assert.deepEqual(parseProcStat("123 (a b) c) Z 1 123 123 0"), { state: "Z", ppid: 1 });
    assert.equal(parseProcStat("garbage"), null);
  },
});

Deno.test({
  name: "Reaper.watch() waits only for the pids it watches and resolves with their status",
  permissions: "none",
  async fn() {
    const state = new Map<number, WaitResult>([[10, { kind: "running" }], [11, { kind: "running" }]]);
    const asked: number[] = [];
    using reaper = new Reaper({
      intervalMs: 5,
      waitPid: (pid) => {
        asked.push(pid);
        return state.get(pid) ?? { kind: "not-child" };
      },
    });
    const a = reaper.watch(10);
    const b = reaper.watch(11);
    await assert.rejects(reaper.watch(12), { code: "FailedPrecondition" });
    state.set(10, { kind: "exited", code: 7 });
    assert.deepEqual(await a, { kind: "exited", code: 7 });
    state.set(11, { kind: "signaled", signal: 9 });
    assert.deepEqual(await b, { kind: "signaled", signal: 9 });
    assert.equal(reaper.size, 0);
    assert.ok(asked.every((p) => p === 10 || p === 11 || p === 12), "never waits for other pids");
  },
});

Deno.test({
  name: "Reaper reaps untracked zombie orphans but leaves the runner's own children alone",
  permissions: "none",
  fn() {
    const reaped: number[] = [];
    using reaper = new Reaper({
      intervalMs: 1000,
      waitPid: (pid) => {
        reaped.push(pid);
        return { kind: "exited", code: 0 };
      },
      orphans: { ownPids: () => new Set([21]), listZombies: () => [20, 21] },
    });
    reaper.check();
    assert.deepEqual(reaped, [20]);
  },
});

Deno.test({
  name: "Reaper.watch() of a pid the orphan sweep already reaped resolves with the kept status",
  permissions: "none",
  async fn() {
    using reaper = new Reaper({
      intervalMs: 1000,
      waitPid: () => ({ kind: "exited", code: 5 }),
      orphans: { ownPids: () => new Set<number>(), listZombies: () => [30] },
    });
    reaper.check();
    assert.deepEqual(await reaper.watch(30), { kind: "exited", code: 5 });
  },
});
