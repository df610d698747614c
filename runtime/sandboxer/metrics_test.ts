import assert from "node:assert/strict";
import { goArch, vmExitStatus } from "./controller.ts";
import { parseProcUsage } from "./metrics.ts";

Deno.test({
  name: "parseProcUsage() reads VmRSS and utime+stime, also with spaces and parentheses in the command",
  permissions: "none",
  fn() {
    const stat = "4242 (qemu (x) y) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 1 0 0";
    assert.deepEqual(parseProcUsage("Name:\tqemu\nVmRSS:\t  2048 kB\nThreads: 3\n", stat), {
      rssBytes: 2048 * 1024,
      cpuSeconds: 3,
    });
    assert.deepEqual(parseProcUsage("Name:\tzombie\n", "1 (z) Z 0 0"), { rssBytes: 0, cpuSeconds: 0 });
  },
});

Deno.test({
  name: "vmExitStatus() and goArch() give containerd's exit status and architecture names",
  permissions: "none",
  fn() {
    assert.equal(vmExitStatus({ kind: "shutdown" }), 0);
    assert.equal(vmExitStatus({ kind: "killed", signal: "SIGKILL" }), 137);
    assert.equal(vmExitStatus({ kind: "crashed", code: 3, reason: "qemu exited with code 3" }), 3);
    assert.equal(vmExitStatus({ kind: "unknown" }), 255);
    assert.equal(goArch("x86_64"), "amd64");
    assert.equal(goArch("aarch64"), "arm64");
  },
});
