/**
 * containerd 1.6's own runc shim (io.containerd.runc.v2) driving Cocoon as its runc binary
 * (`ctr run --runc-binary`): output reaches ctr, exit statuses come back, kill ends a sleep, and
 * nothing is left behind. The shim passes `--root`, `--log <bundle>/log.json --log-format json`.
 */
import assert from "node:assert/strict";
import { startContainerd } from "../utils/containerd.ts";
import { CLEAN, hostCanBoot, leftovers, withOciWorld } from "./oci_world.ts";

async function hasContainerd(): Promise<boolean> {
  const r = await new Deno.Command("sh", {
    args: ["-c", "command -v containerd && command -v ctr"],
    stdout: "null",
    stderr: "null",
  }).output().catch(() => null);
  return r !== null && r.success;
}

const canRun = await hostCanBoot() && await hasContainerd();

Deno.test({
  name:
    "ctr run --runc-binary cocoon: echo hi reaches ctr, exit 7 comes back, kill ends a sleep, nothing left",
  ignore: !canRun,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withOciWorld(async (w) => {
      const launcher = await w.launcher();
      const ctrd = await startContainerd();
      try {
        const run = (id: string, extra: string[], cmd: string[]) =>
          ctrd.ctr([
            "run",
            ...extra,
            "--runc-binary",
            launcher,
            "--runc-root",
            w.root,
            "--rootfs",
            w.rootfs,
            id,
            ...cmd,
          ]);
        const hi = await run("hi", ["--rm"], ["/bin/echo", "hi"]); // no image: the spec has no PATH
        assert.equal(hi.code, 0, hi.stderr);
        assert.equal(hi.stdout.replaceAll("\r", ""), "hi\n");
        assert.deepEqual(await leftovers(w, "hi"), CLEAN);

        const seven = await run("seven", ["--rm"], ["/bin/sh", "-c", "exit 7"]);
        assert.equal(seven.code, 7, seven.stderr);

        const sleeper = await run("sleeper", ["-d"], ["/bin/sleep", "600"]);
        assert.equal(sleeper.code, 0, sleeper.stderr);
        const kill = await ctrd.ctr(["task", "kill", "-s", "SIGKILL", "sleeper"]);
        assert.equal(kill.code, 0, kill.stderr);
        let status = "";
        for (let i = 0; i < 100 && !status.includes("STOPPED"); i++) {
          status = (await ctrd.ctr(["task", "ls"])).stdout;
          await new Promise((r) => setTimeout(r, 200));
        }
        assert.match(status, /sleeper\s+\d+\s+STOPPED/);
        assert.equal((await ctrd.ctr(["task", "rm", "sleeper"])).code, 0);
        assert.equal((await ctrd.ctr(["container", "rm", "sleeper"])).code, 0);
        assert.deepEqual(await leftovers(w, "sleeper"), CLEAN);
      } finally {
        await ctrd.stop();
      }
    });
  },
});
