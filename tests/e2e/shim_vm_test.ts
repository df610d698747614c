/**
 * containerd 1.6 → containerd-shim-cocoon-v2 → the detached `cocoon daemon` → real QEMU (TCG here)
 * with the guest image and agent → crun in the guest. Nothing is faked: the shim starts the daemon,
 * the daemon boots one VM per pod, a busybox rootfs directory reaches the guest over 9p.
 *
 * The guest image is the generic-kernel flavour (it has 9p), built once and cached by content hash.
 */
import assert from "node:assert/strict";
import { makeBusyboxRootfs } from "../../agent/testing/rootfs.ts";
import { pidsMentioning, topicsOf, withShimWorld } from "../integration/shim_harness.ts";
import { guestImage, hostCanBoot, PATH, pssKiB, writeConfig } from "./shim_vm_env.ts";

const opts = { ignore: !(await hostCanBoot()), sanitizeResources: false, sanitizeOps: false };

async function prepare(dir: string) {
  const image = await guestImage();
  return { rootfs: await makeBusyboxRootfs(dir), env: { COCOON_CONFIG: await writeConfig(dir, image) } };
}

Deno.test({
  name:
    "ctr run on real QEMU via the shim and daemon: hi, exit 7, run -d + exec + ps + pause/resume + kill 137",
  ...opts,
  async fn() {
    await withShimWorld({ embedded: false, prepare }, async (w) => {
      const sub = await w.ctrd.subscribe();
      const t0 = performance.now();
      const hi = await w.run(PATH, "v-echo", ["echo", "hi"]);
      const echoMs = Math.round(performance.now() - t0);
      assert.equal(hi.stdout, "hi\n", hi.stderr);
      assert.equal(hi.code, 0);
      const seven = await w.run(PATH, "v-seven", ["sh", "-c", "exit 7"]);
      assert.equal(seven.code, 7, seven.stderr);

      const d = await w.run(["-d", ...PATH], "v-sleep", ["sleep", "600"]);
      assert.equal(d.code, 0, d.stderr);
      const qemu = await pidsMentioning(w.dir, "qemu-system");
      assert.equal(qemu.length, 1, "one VM for the running pod");
      // the VM is accounted to the container's host cgroup (containerd's /<namespace>/<id>)
      const cg = await Deno.readTextFile(`/proc/${qemu[0]}/cgroup`);
      assert.match(cg, /\/v-sleep$/m, `QEMU's cgroups: ${cg}`);
      const daemonPid = Number(await Deno.readTextFile(`${w.daemonDir}/daemon.pid`));
      const pss = { qemuKiB: await pssKiB(qemu[0] ?? 0), daemonKiB: await pssKiB(daemonPid) };
      const ex = await w.ctrd.ctr(["task", "exec", "--exec-id", "e1", "v-sleep", "/bin/echo", "in-vm"]);
      assert.equal(ex.stdout, "in-vm\n", ex.stderr);
      assert.equal(ex.code, 0);
      const ps = await w.ctrd.ctr(["task", "ps", "v-sleep"]);
      assert.equal(ps.code, 0, ps.stderr);
      assert.equal((await w.ctrd.ctr(["task", "pause", "v-sleep"])).code, 0);
      assert.match((await w.ctrd.ctr(["task", "ls"])).stdout, /v-sleep\s+\d+\s+PAUSED/);
      assert.equal((await w.ctrd.ctr(["task", "resume", "v-sleep"])).code, 0);
      const kill = await w.ctrd.ctr(["task", "kill", "-s", "SIGKILL", "v-sleep"]);
      assert.equal(kill.code, 0, kill.stderr);
      const exit = await sub.waitFor((l) => l.includes("/tasks/exit") && l.includes('"id":"v-sleep"'), {
        timeoutMs: 30_000,
      });
      assert.match(exit, /"exit_status":137/);
      assert.equal((await w.ctrd.ctr(["task", "rm", "v-sleep"])).code, 0);
      await w.ctrd.ctr(["container", "rm", "v-sleep", "v-echo", "v-seven"]);
      await sub.waitFor((l) => l.includes("/tasks/delete") && l.includes('"v-sleep"'), { timeoutMs: 30_000 });
      assert.deepEqual(topicsOf(sub.lines, "v-echo"), [
        "/tasks/create",
        "/tasks/start",
        "/tasks/exit",
        "/tasks/delete",
      ]);
      for (let i = 0; i < 50 && (await pidsMentioning(w.dir, "qemu-system")).length > 0; i++) {
        await new Promise((r) => setTimeout(r, 200));
      }
      assert.deepEqual(await pidsMentioning(w.dir, "qemu-system"), [], "no VM left");
      // deno-lint-ignore no-console
      console.log(
        `ctr run echo hi through Cocoon (VM boot included, TCG): ${echoMs} ms; PSS of one pod: ${
          JSON.stringify(pss)
        }`,
      );
    });
  },
});

Deno.test({
  name: "a pod of two containers runs in one QEMU; killing QEMU reports exit 137 for both and leaves nothing",
  ...opts,
  async fn() {
    await withShimWorld({ embedded: false, prepare }, async (w) => {
      const sub = await w.ctrd.subscribe();
      const pod = ["--annotation", "io.kubernetes.cri.sandbox-id=pod1", ...PATH];
      assert.equal((await w.run(["-d", ...pod], "pod1", ["sleep", "600"])).code, 0);
      const b = await w.run(["-d", ...pod], "pod1-b", ["sleep", "600"]);
      assert.equal(b.code, 0, b.stderr);
      const qemu = await pidsMentioning(w.dir, "qemu-system");
      assert.equal(qemu.length, 1, "both containers share the pod's VM");
      const ex = await w.ctrd.ctr(["task", "exec", "--exec-id", "e1", "pod1-b", "/bin/echo", "b"]);
      assert.equal(ex.stdout, "b\n", ex.stderr);
      for (const pid of qemu) Deno.kill(pid, "SIGKILL");
      for (const id of ["pod1", "pod1-b"]) {
        const exit = await sub.waitFor((l) => l.includes("/tasks/exit") && l.includes(`"id":"${id}"`), {
          timeoutMs: 30_000,
        });
        assert.match(exit, /"exit_status":137/);
      }
      const ls = await w.ctrd.ctr(["task", "ls"]);
      assert.match(ls.stdout, /pod1\s+\d+\s+STOPPED/);
      assert.match(ls.stdout, /pod1-b\s+\d+\s+STOPPED/);
      for (const id of ["pod1-b", "pod1"]) {
        const rm = await w.ctrd.ctr(["task", "rm", id]);
        assert.equal(rm.code, 0, rm.stderr);
      }
      assert.equal((await w.ctrd.ctr(["task", "ls"])).stdout.trim().split("\n").length, 1, "no task left");
      assert.deepEqual(await pidsMentioning(w.dir, "qemu-system"), []);
    });
  },
});

Deno.test({
  name: "killing the daemon: containerd runs the shim's delete, which removes the container and its VM",
  ...opts,
  async fn() {
    await withShimWorld({ embedded: false, prepare }, async (w) => {
      const sub = await w.ctrd.subscribe();
      assert.equal((await w.run(["-d", ...PATH], "v-orphan", ["sleep", "600"])).code, 0);
      assert.equal((await pidsMentioning(w.dir, "qemu-system")).length, 1);
      const daemonPid = Number(await Deno.readTextFile(`${w.daemonDir}/daemon.pid`));
      Deno.kill(daemonPid, "SIGKILL");
      const exit = await sub.waitFor((l) => l.includes("/tasks/exit") && l.includes('"v-orphan"'), {
        timeoutMs: 60_000,
      });
      assert.match(exit, /"exit_status":137/);
      await sub.waitFor((l) => l.includes("/tasks/delete") && l.includes('"v-orphan"'), {
        timeoutMs: 60_000,
      });
      for (let i = 0; i < 100 && (await pidsMentioning(w.dir, "qemu-system")).length > 0; i++) {
        await new Promise((r) => setTimeout(r, 200));
      }
      assert.deepEqual(await pidsMentioning(w.dir, "qemu-system"), [], "the delete binary took the VM down");
      assert.doesNotMatch((await w.ctrd.ctr(["task", "ls"])).stdout, /v-orphan/);
    });
  },
});
