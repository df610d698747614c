/**
 * The shim v2 contract against a real containerd 1.6: `ctr` drives containerd, containerd runs
 * `containerd-shim-cocoon-v2 start|delete` (this checkout) and speaks the Task API to the Cocoon
 * daemon, which runs here embedded in the test on the in-memory sandbox (fake VM and agent), so the
 * whole host-side path is exercised without booting a VM (tests/e2e/shim_vm_test.ts boots one).
 */
import assert from "node:assert/strict";
import { isMountPoint } from "../../runtime/daemon/rootfs.ts";
import { podSandboxId } from "../../runtime/shim/address.ts";
import { RUNTIME, topicsOf, withShimWorld } from "./shim_harness.ts";
import { buildBusyboxImage } from "./shim_image.ts";

const IMAGE = "docker.io/library/cocoon-busybox:latest";

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
      // The daemon wrote the task's life into the bundle's log FIFO, which containerd copies.
      assert.match(await w.ctrd.log(), /task started.*c-echo|c-echo.*task started/);
      assert.equal(w.daemon?.tasks.size, 0);
      assert.equal(w.host.running.size, 0, "every pod's VM is gone with its last container");
    });
  },
});

Deno.test({
  name:
    "ctr run -d, task exec/ps/metrics/pause/resume/kill through the shim: 137 after SIGKILL, NOT_FOUND once exited",
  ...opts,
  async fn() {
    await withShimWorld({ embedded: true }, async (w) => {
      const sub = await w.ctrd.subscribe();
      const d = await w.run(["-d"], "c-sleep", ["sleep", "600"]);
      assert.equal(d.code, 0, d.stderr);
      const addr = await Deno.readTextFile(
        `${w.ctrd.state}/io.containerd.runtime.v2.task/default/c-sleep/address`,
      );
      assert.equal(addr, `unix://${w.daemonDir}/ns-default.sock`);

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

      const metrics = await w.ctrd.ctr(["task", "metrics", "c-sleep"]);
      assert.equal(metrics.code, 0, metrics.stderr);
      assert.match(metrics.stdout, /c-sleep/);

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

Deno.test({
  name:
    "an imported OCI image runs through the overlayfs snapshotter: its mounts land on bundle/rootfs and go on delete",
  ...opts,
  async fn() {
    await withShimWorld({ embedded: true }, async (w) => {
      const tar = await buildBusyboxImage(w.dir, IMAGE);
      const imp = await w.ctrd.ctr(["image", "import", tar]);
      assert.equal(imp.code, 0, imp.stderr);
      const d = await w.ctrd.ctr(["run", "-d", "--runtime", RUNTIME, IMAGE, "c-img", "sleep", "600"]);
      assert.equal(d.code, 0, d.stderr);
      const bundle = `${w.ctrd.state}/io.containerd.runtime.v2.task/default/c-img`;
      assert.ok(await isMountPoint(`${bundle}/rootfs`), "the snapshot is mounted on bundle/rootfs");
      assert.ok((await Deno.stat(`${bundle}/rootfs/bin/busybox`)).isFile);
      const shared = [...w.share.shared.values()];
      assert.ok(shared.includes(`${bundle}/rootfs`), `shared: ${shared.join(", ")}`);
      assert.equal((await w.ctrd.ctr(["task", "kill", "-s", "KILL", "c-img"])).code, 0);
      for (let i = 0; i < 50 && !/STOPPED/.test((await w.ctrd.ctr(["task", "ls"])).stdout); i++) {
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal((await w.ctrd.ctr(["task", "rm", "c-img"])).code, 0);
      assert.equal(await isMountPoint(`${bundle}/rootfs`), false);
      assert.equal((await w.ctrd.ctr(["container", "rm", "c-img"])).code, 0);

      // The same image in the foreground: output and exit code come back.
      const hi = await w.ctrd.ctr(["run", "--rm", "--runtime", RUNTIME, IMAGE, "c-img2", "echo", "hi"]);
      assert.equal(hi.stdout, "hi\n", hi.stderr);
      assert.equal(hi.code, 0);
    });
  },
});

Deno.test({
  name: "containers with one io.kubernetes.cri.sandbox-id share one VM, which goes with the last of them",
  ...opts,
  async fn() {
    await withShimWorld({ embedded: true }, async (w) => {
      const pod = ["-d", "--annotation", "io.kubernetes.cri.sandbox-id=pod1"];
      assert.equal((await w.run(pod, "pod1", ["sleep", "600"])).code, 0);
      assert.equal((await w.run(pod, "pod1-app", ["sleep", "600"])).code, 0);
      assert.deepEqual([...w.host.running.keys()], [podSandboxId("default", "pod1")]);
      for (const id of ["pod1", "pod1-app"]) {
        assert.equal((await w.ctrd.ctr(["task", "kill", "-s", "KILL", id])).code, 0);
      }
      await new Promise((r) => setTimeout(r, 300));
      assert.equal((await w.ctrd.ctr(["task", "rm", "pod1"])).code, 0);
      assert.equal(w.host.running.size, 1, "the VM stays while a container of the pod remains");
      assert.equal((await w.ctrd.ctr(["task", "rm", "pod1-app"])).code, 0);
      assert.equal(w.host.running.size, 0);
    });
  },
});

Deno.test({
  name: "--log-uri file:// sends stdout and stderr to the file before the exit is reported",
  ...opts,
  async fn() {
    await withShimWorld({ embedded: true }, async (w) => {
      const log = `${w.dir}/logs/c.log`;
      const r = await w.run(["--log-uri", `file://${log}`], "c-log", ["echo", "logged"]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(await Deno.readTextFile(log), "logged\n");
    });
  },
});

Deno.test({
  name:
    "ctr run -t (under script for a terminal): terminal task, no stderr fifo, output and exit code come back",
  ...opts,
  ignore: opts.ignore || !(await hasScript()),
  async fn() {
    await withShimWorld({ embedded: true }, async (w) => {
      const sub = await w.ctrd.subscribe();
      const cmd =
        `ctr -a ${w.ctrd.grpcAddress} run -t --runtime ${RUNTIME} --rootfs ${w.rootfs} c-tty echo hi-tty`;
      const out = await new Deno.Command("script", {
        args: ["-q", "-e", "-c", cmd, "/dev/null"],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(out.stdout);
      assert.equal(out.code, 0, text + new TextDecoder().decode(out.stderr));
      assert.match(text, /hi-tty/);
      const created = await sub.waitFor((l) => l.includes("/tasks/create") && l.includes('"c-tty"'));
      assert.match(created, /"terminal":true/);
      assert.doesNotMatch(created, /"stderr":"\//);
    });
  },
});

async function hasScript(): Promise<boolean> {
  const r = await new Deno.Command("sh", {
    args: ["-c", "command -v script"],
    stdout: "null",
    stderr: "null",
  })
    .output().catch(() => null);
  return r !== null && r.success;
}

Deno.test({
  name: "--log-uri binary:// starts the logger with stdout on fd 3, the query as args and CONTAINER_ID",
  ...opts,
  async fn() {
    await withShimWorld({ embedded: true }, async (w) => {
      const logger = `${w.dir}/logger.sh`;
      await Deno.writeTextFile(
        logger,
        '#!/bin/sh\n# args: out <file>\necho "$CONTAINER_ID $CONTAINER_NAMESPACE" > "$2.env"\nexec 5>&-\ncat <&3 > "$2"\n',
      );
      await Deno.chmod(logger, 0o755);
      const out = `${w.dir}/bin-log`;
      const r = await w.run(["--log-uri", `binary://${logger}?out=${out}`], "c-binlog", [
        "echo",
        "via-logger",
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal((await w.ctrd.ctr(["container", "rm", "c-binlog"])).code, 0);
      assert.equal(await Deno.readTextFile(out), "via-logger\n");
      assert.equal(await Deno.readTextFile(`${out}.env`), "c-binlog default\n");
    });
  },
});
