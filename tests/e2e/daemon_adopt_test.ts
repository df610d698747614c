/**
 * One owner per host, through the installed program: `cocoon sandboxer` has the daemon serve the
 * Controller; a sandbox started there runs in a real VM whose record names the daemon. kill -9 of
 * the daemon leaves the VM running; the command starts a daemon again and has it serve the
 * Controller, and the new daemon adopts the sandbox on its next call (same QEMU, the record names
 * the new daemon, its management API holds it); Shutdown then removes it, SIGTERM stops the
 * command, and the idle daemon exits. Skipped unless RUNTIME_E2E=1 (or COCOON_E2E=1) and the host
 * can boot guests.
 */
import assert from "node:assert/strict";
import { daemonPid, exists, killDaemons, printDaemonLog, until } from "./daemon_util.ts";
import { grpcUnaryClient } from "../../runtime/protocol/grpc.ts";
import { Controller } from "../../runtime/protocol/gen/containerd/services/sandbox/v1/sandbox_pb.ts";
import { cocoonBin } from "../utils/program.ts";
import { mountsUnder, qemuPids, scrub } from "./sandbox_util.ts";
import { guestImage, hostCanBoot, writeConfig } from "./shim_vm_env.ts";

const enabled = (Deno.env.get("RUNTIME_E2E") === "1" || Deno.env.get("COCOON_E2E") === "1") &&
  await hostCanBoot();

async function apiSandboxes(
  socket: string,
): Promise<{ id: string; owner: { kind: string; pid?: number } }[]> {
  const client = Deno.createHttpClient({ proxy: { transport: "unix", path: socket } });
  try {
    const r = await fetch("http://cocoon/v1/sandboxes", { client });
    assert.equal(r.status, 200);
    const x = await r.json();
    return x.sandboxes;
  } finally {
    client.close();
  }
}

Deno.test({
  name:
    "a daemon killed with -9 comes back and adopts the sandbox its Controller started: same VM, new owner",
  ignore: !enabled,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "cocoon-adopt-" });
    const daemonDir = `${dir}/d`;
    const sock = `${dir}/sandboxer.sock`;
    const id = `adopt-${crypto.randomUUID().slice(0, 8)}`;
    const config = await writeConfig(dir, await guestImage());
    const child = new Deno.Command(cocoonBin(), {
      args: [
        "--config",
        config,
        "sandboxer",
        "--listen",
        sock,
        "--dir",
        `${dir}/task`,
        "--events-address",
        "",
      ],
      env: { COCOON_CONFIG: "", COCOON_DAEMON_DIR: daemonDir },
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const output = child.output();
    const daemons: number[] = [];
    let passed = false;
    try {
      await until("the Controller", () => exists(sock), 30_000);
      daemons.push(await daemonPid(daemonDir));
      let { client, close } = grpcUnaryClient(Controller, `unix://${sock}`);
      let qemu: number;
      try {
        await client.create({ sandboxId: id }, { timeoutMs: 5000 });
        const started = await client.start({ sandboxId: id }, { timeoutMs: 180_000 });
        qemu = started.pid;
        assert.deepEqual(await qemuPids(id), [qemu], "Start's pid is the QEMU process");
        // the OOM killer takes a VM before the daemon that answers for all of them
        const score = async (pid: number) =>
          Number((await Deno.readTextFile(`/proc/${pid}/oom_score_adj`)).trim());
        // (lowering a score needs CAP_SYS_RESOURCE, which some hosts, this one included, withhold)
        const capEff = /^CapEff:\s+([0-9a-f]+)/m.exec(await Deno.readTextFile("/proc/self/status"))?.[1] ??
          "0";
        const canLower = (BigInt(`0x${capEff}`) >> 24n & 1n) === 1n;
        assert.equal(
          await score(daemons[0]!),
          canLower ? -998 : 0,
          "the daemon is protected where the host allows",
        );
        assert.equal(await score(qemu), 0, "its VMM never is");
      } finally {
        close();
      }
      const rec = JSON.parse(await Deno.readTextFile(`${dir}/run/store/sandboxes/${id}/@record.json`));
      assert.deepEqual(
        [rec.owner?.kind, rec.owner?.pid],
        ["daemon", daemons[0]],
        "the record names the daemon",
      );

      Deno.kill(daemons[0]!, "SIGKILL");
      await until("the daemon to die", async () => !(await exists(`/proc/${daemons[0]}`)), 10_000);
      assert.deepEqual(await qemuPids(id), [qemu], "the VM outlives the daemon");
      // the command notices and starts a daemon that serves the Controller again
      await until("a new daemon", async () => {
        const p = await daemonPid(daemonDir);
        return p !== daemons[0] && p > 0 && await exists(`/proc/${p}`);
      }, 30_000);
      daemons.push(await daemonPid(daemonDir));
      // a fresh client per try: one made before the new Controller listens sits in gRPC's reconnect backoff
      let lastError: unknown;
      await until("the Controller to answer again", async () => {
        const c = grpcUnaryClient(Controller, `unix://${sock}`);
        try {
          await c.client.platform({ sandboxId: id }, { timeoutMs: 2000 });
          return true;
        } catch (e) {
          lastError = e;
          return false;
        } finally {
          c.close();
        }
      }, 30_000).catch((e) => {
        throw new Error(`${e}: last error ${lastError}`);
      });
      ({ client, close } = grpcUnaryClient(Controller, `unix://${sock}`));
      try {
        const st = await client.status({ sandboxId: id }, { timeoutMs: 60_000 });
        assert.equal(st.state, "SANDBOX_READY");
        assert.equal(st.pid, qemu, "the same VM, adopted");
        const after = JSON.parse(await Deno.readTextFile(`${dir}/run/store/sandboxes/${id}/@record.json`));
        assert.deepEqual(
          [after.owner?.kind, after.owner?.pid],
          ["daemon", daemons[1]],
          "the record names the new daemon",
        );
        const listed = await apiSandboxes(`${daemonDir}/api.sock`);
        assert.deepEqual(listed.map((s) => [s.id, s.owner.kind]), [[id, "in-process"]]);
        await client.shutdown({ sandboxId: id }, { timeoutMs: 60_000 });
      } finally {
        close();
      }
      await until("the VM to go", async () => (await qemuPids(id)).length === 0, 30_000);
      assert.equal(await exists(`${dir}/run/sandboxes/${id}`), false, "its state directory goes");
      child.kill("SIGTERM");
      const out = await output;
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
      await until("the idle daemon to exit", async () => !(await exists(`/proc/${daemons[1]}`)), 15_000);
      assert.equal(await exists(sock), false);
      passed = true;
    } finally {
      if (!passed) {
        // what the daemons said, for the failure report
        await printDaemonLog(daemonDir);
      }
      try {
        child.kill("SIGKILL");
      } catch {
        // exited
      }
      await output;
      await killDaemons(daemonDir, daemons);
      await scrub(dir, id);
      assert.deepEqual(await mountsUnder(dir), []);
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
