/**
 * The shim v2 contract against a real containerd 1.6: `ctr` drives containerd, containerd runs
 * `containerd-shim-cocoon-v2 start|delete` (this checkout) and speaks the Task API to the Cocoon
 * daemon, which runs here embedded in the test on the in-memory sandbox (fake VM and agent), so the
 * whole host-side path is exercised without booting a VM (tests/e2e/shim_vm_test.ts boots one).
 */
import assert from "node:assert/strict";
import { topicsOf, withShimWorld } from "./shim_harness.ts";

const canRun = await (async () => {
  if (Deno.uid() !== 0) return false;
  for (const b of ["containerd", "ctr"]) {
    const r = await new Deno.Command("sh", {
      args: ["-c", `command -v ${b}`],
      stdout: "null",
      stderr: "null",
    })
      .output().catch(() => null);
    if (r === null || !r.success) return false;
  }
  return true;
})();
const opts = { ignore: !canRun, sanitizeResources: false, sanitizeOps: false };

Deno.test({
  name:
    "ctr run through containerd-shim-cocoon-v2 prints the output and returns exit codes 0 and 7, events in order",
  ...opts,
  async fn() {
    await withShimWorld({ embedded: true }, async (w) => {
      const sub = await w.ctrd.subscribe();
      const hi = await w.run([], "c-echo", ["echo", "hi"]);
      assert.equal(hi.stderr, "");
      assert.equal(hi.stdout, "hi\n");
      assert.equal(hi.code, 0);
      const seven = await w.run([], "c-seven", ["sh", "-c", "exit 7"]);
      assert.equal(seven.code, 7, seven.stderr);
      await sub.waitFor((l) => l.includes("/tasks/delete") && l.includes('"c-seven"'), { timeoutMs: 15_000 });
      assert.deepEqual(topicsOf(sub.lines, "c-echo"), [
        "/tasks/create",
        "/tasks/start",
        "/tasks/exit",
        "/tasks/delete",
      ]);
      const exit7 = sub.lines.find((l) => l.includes("/tasks/exit") && l.includes('"c-seven"')) ?? "";
      assert.match(exit7, /"exit_status":7/);
      // The bundle got its address file, without a trailing newline.
      assert.equal(w.daemon?.tasks.size, 0);
      assert.equal(w.host.running.size, 0, "every pod's VM is gone with its last container");
    });
  },
});

Deno.test({
  name:
    "ctr run -d, task exec/ps/pause/resume/kill through the shim: 137 after SIGKILL, NOT_FOUND once exited",
  ...opts,
  async fn() {
    await withShimWorld({ embedded: true }, async (w) => {
      const sub = await w.ctrd.subscribe();
      const d = await w.run(["-d"], "c-sleep", ["sleep", "600"]);
      assert.equal(d.code, 0, d.stderr);
      const addr = await Deno.readTextFile(
        `${w.ctrd.state}/io.containerd.runtime.v2.task/default/c-sleep/address`,
      );
      assert.equal(addr, `unix://${w.daemonDir}/cocoon.sock`);

      const ls = await w.ctrd.ctr(["task", "ls"]);
      assert.match(ls.stdout, /c-sleep\s+\d+\s+RUNNING/);

      const ex = await w.ctrd.ctr(["task", "exec", "--exec-id", "e1", "c-sleep", "echo", "from-exec"]);
      assert.equal(ex.code, 0, ex.stderr);
      assert.equal(ex.stdout, "from-exec\n");
      const ex7 = await w.ctrd.ctr(["task", "exec", "--exec-id", "e2", "c-sleep", "sh", "-c", "exit 7"]);
      assert.equal(ex7.code, 7, ex7.stderr);

      const ps = await w.ctrd.ctr(["task", "ps", "c-sleep"]);
      assert.equal(ps.code, 0, ps.stderr);
      assert.match(ps.stdout, /PID/);

      assert.equal((await w.ctrd.ctr(["task", "pause", "c-sleep"])).code, 0);
      assert.match((await w.ctrd.ctr(["task", "ls"])).stdout, /c-sleep\s+\d+\s+PAUSED/);
      assert.equal((await w.ctrd.ctr(["task", "resume", "c-sleep"])).code, 0);
      assert.match((await w.ctrd.ctr(["task", "ls"])).stdout, /c-sleep\s+\d+\s+RUNNING/);

      const kill = await w.ctrd.ctr(["task", "kill", "-s", "SIGKILL", "c-sleep"]);
      assert.equal(kill.code, 0, kill.stderr);
      const exit = await sub.waitFor((l) => l.includes("/tasks/exit") && l.includes('"id":"c-sleep"'), {
        timeoutMs: 10_000,
      });
      assert.match(exit, /"exit_status":137/);
      assert.match((await w.ctrd.ctr(["task", "ls"])).stdout, /c-sleep\s+\d+\s+STOPPED/);
      const again = await w.ctrd.ctr(["task", "kill", "c-sleep"]);
      assert.notEqual(again.code, 0);
      assert.match(again.stderr, /process already finished: not found/);

      assert.equal((await w.ctrd.ctr(["task", "rm", "c-sleep"])).code, 0);
      assert.equal((await w.ctrd.ctr(["container", "rm", "c-sleep"])).code, 0);
      await sub.waitFor((l) => l.includes("/tasks/delete") && l.includes('"c-sleep"'), { timeoutMs: 10_000 });
      assert.deepEqual(
        topicsOf(sub.lines, "c-sleep").filter((t) => t !== "/tasks/paused" && t !== "/tasks/resumed"),
        [
          "/tasks/create",
          "/tasks/start",
          "/tasks/exec-added",
          "/tasks/exec-started",
          "/tasks/exit",
          "/tasks/exec-added",
          "/tasks/exec-started",
          "/tasks/exit",
          "/tasks/exit",
          "/tasks/delete",
        ],
      );
      assert.ok(sub.lines.some((l) => l.includes("/tasks/paused")));
      assert.ok(sub.lines.some((l) => l.includes("/tasks/resumed")));
      assert.equal(w.host.running.size, 0);
    });
  },
});
