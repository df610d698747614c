/**
 * The shim binary's start/delete contract with the real, detached daemon (no containerd, no VM):
 * `start` prints exactly the unix:// address once the socket listens, writes `address` without a
 * newline, starts one daemon that outlives it with stdio on /dev/null and serves every container
 * (1:N); the Task API answers Connect/State/Checkpoint/Shutdown as containerd expects; `delete`
 * prints a DeleteResponse, and the daemon exits once nothing is left.
 */
import assert from "node:assert/strict";
import { fromBinary } from "@bufbuild/protobuf";
import { minimalSpec } from "../../runtime/oci/spec.ts";
import { DeleteResponseSchema, Task } from "../../runtime/protocol/gen/containerd/task/v2/shim_pb.ts";
import { RpcStatusError, TtrpcClient, typedClient } from "../../runtime/protocol/ttrpc/mod.ts";
import { killDaemonOf, writeShimLauncher } from "./shim_harness.ts";

const opts = { ignore: Deno.uid() !== 0, sanitizeResources: false, sanitizeOps: false };

async function shim(
  bin: string,
  args: string[],
  o: { cwd: string; env: Record<string, string> },
): Promise<{ code: number; stdout: Uint8Array; stderr: string }> {
  const out = await new Deno.Command(`${bin}/containerd-shim-cocoon-v2`, {
    args,
    cwd: o.cwd,
    env: o.env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stdout: out.stdout, stderr: new TextDecoder().decode(out.stderr) };
}

async function makeBundle(dir: string, id: string): Promise<string> {
  const b = `${dir}/${id}`;
  await Deno.mkdir(`${b}/rootfs`, { recursive: true });
  await Deno.writeTextFile(`${b}/config.json`, JSON.stringify(minimalSpec(["true"], { rootfs: "rootfs" })));
  return b;
}

const alive = (pid: number) => Deno.stat(`/proc/${pid}`).then(() => true, () => false);

/** A private directory, the daemon's directory in it, the shim's environment and common flags. */
async function world() {
  const dir = await Deno.makeTempDir({ prefix: "cshimd-" });
  const daemonDir = `${dir}/d`;
  const env = { COCOON_DAEMON_DIR: daemonDir, PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" };
  const base = [
    "-namespace",
    "default",
    "-address",
    `${dir}/containerd.sock`,
    "-publish-binary",
    "/usr/bin/containerd",
  ];
  return { dir, daemonDir, env, base };
}

Deno.test({
  name:
    "shim start spawns one detached daemon for all containers; delete answers a DeleteResponse; idle daemon exits",
  ...opts,
  async fn() {
    const { dir, daemonDir, env, base } = await world();
    try {
      await writeShimLauncher(`${dir}/bin`);
      const b1 = await makeBundle(dir, "c1");
      const b2 = await makeBundle(dir, "c2");
      const s1 = await shim(`${dir}/bin`, [...base, "-id", "c1", "start"], { cwd: b1, env });
      assert.equal(s1.stderr, "");
      assert.equal(s1.code, 0);
      const address = new TextDecoder().decode(s1.stdout);
      assert.equal(address, `unix://${daemonDir}/ns-default.sock`, "the namespace's own Task API socket");
      assert.equal(await Deno.readTextFile(`${b1}/address`), address);
      const pid = Number(await Deno.readTextFile(`${daemonDir}/daemon.pid`));
      assert.ok(await alive(pid), "the daemon outlives start");
      // the supervisor (what start ran) leads its own session with stdio on /dev/null; the daemon is its child
      const sup = Number(await Deno.readTextFile(`${daemonDir}/supervisor.pid`));
      for (const fd of [0, 1, 2]) assert.equal(await Deno.readLink(`/proc/${sup}/fd/${fd}`), "/dev/null");
      for (const fd of [0, 1]) assert.equal(await Deno.readLink(`/proc/${pid}/fd/${fd}`), "/dev/null");
      const statOf = async (p: number) =>
        (await Deno.readTextFile(`/proc/${p}/stat`)).replace(/^.*\) /, "").split(" ");
      assert.equal(Number((await statOf(sup))[3]), sup, "the supervisor leads its own session");
      assert.equal(Number((await statOf(pid))[1]), sup, "the daemon is the supervisor's child");

      const s2 = await shim(`${dir}/bin`, [...base, "-id", "c2", "start"], { cwd: b2, env });
      assert.equal(new TextDecoder().decode(s2.stdout), address);
      assert.equal(Number(await Deno.readTextFile(`${daemonDir}/daemon.pid`)), pid, "one daemon, 1:N");

      const client = await TtrpcClient.connect(`${daemonDir}/cocoon.sock`);
      try {
        const task = typedClient(client, Task);
        const c = await task.connect({ id: "c1" });
        assert.equal(c.shimPid, pid);
        assert.equal(c.taskPid, 0);
        await assert.rejects(
          task.state({ id: "c1" }),
          (e) => e instanceof RpcStatusError && e.grpcCode === 5,
        );
        await assert.rejects(
          task.checkpoint({ id: "c1" }),
          (e) => e instanceof RpcStatusError && e.grpcCode === 12,
        );
        await task.shutdown({ id: "c1" });
      } finally {
        await client.close();
      }
      await new Promise((r) => setTimeout(r, 300));
      assert.ok(await alive(pid), "Shutdown does not end a daemon with containers pending");

      for (const [id, b] of [["c1", b1], ["c2", b2]] as const) {
        const d = await shim(`${dir}/bin`, [...base, "-id", id, "-bundle", b, "delete"], { cwd: b, env });
        assert.equal(d.code, 0, d.stderr);
        const r = fromBinary(DeleteResponseSchema, d.stdout);
        assert.equal(r.exitStatus, 137);
        assert.ok((r.exitedAt?.seconds ?? 0n) > 0n);
      }
      for (let i = 0; i < 100 && await alive(pid); i++) await new Promise((r) => setTimeout(r, 100));
      assert.equal(await alive(pid), false, "the idle daemon exits");
      for (let i = 0; i < 50 && await alive(sup); i++) await new Promise((r) => setTimeout(r, 100));
      assert.equal(await alive(sup), false, "its supervisor exits after it");
      for (
        const f of [
          "cocoon.sock",
          "ns-default.sock",
          "backend.sock",
          "supervisor.sock",
          "daemon.pid",
          "supervisor.pid",
        ]
      ) {
        await assert.rejects(Deno.stat(`${daemonDir}/${f}`), Deno.errors.NotFound, f);
      }
    } finally {
      await killDaemonOf(daemonDir);
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name:
    "kill -9 of the daemon: its supervisor starts it again and containerd's connections stay open; the new daemon answers on them",
  ...opts,
  async fn() {
    const { dir, daemonDir, env, base } = await world();
    let sup = 0;
    try {
      await writeShimLauncher(`${dir}/bin`);
      const b1 = await makeBundle(dir, "c1");
      const s1 = await shim(`${dir}/bin`, [...base, "-id", "c1", "start"], { cwd: b1, env });
      assert.equal(s1.code, 0, s1.stderr);
      const address = new TextDecoder().decode(s1.stdout);
      const first = Number(await Deno.readTextFile(`${daemonDir}/daemon.pid`));
      sup = Number(await Deno.readTextFile(`${daemonDir}/supervisor.pid`));
      const client = await TtrpcClient.connect(address.slice("unix://".length));
      const main = await TtrpcClient.connect(`${daemonDir}/cocoon.sock`);
      try {
        const task = typedClient(client, Task);
        assert.equal((await task.connect({ id: "c1" })).shimPid, first);

        Deno.kill(first, "SIGKILL");
        let second = first;
        for (let i = 0; i < 300 && (second === first || !(await alive(second))); i++) {
          await new Promise((r) => setTimeout(r, 100));
          second = Number(await Deno.readTextFile(`${daemonDir}/daemon.pid`).catch(() => "0"));
        }
        assert.notEqual(second, first, "a new daemon runs");
        assert.ok(await alive(sup), "the supervisor lives on");
        // the same connections, now answered by the new daemon
        assert.equal((await task.connect({ id: "c1" })).shimPid, second);
        await assert.rejects(
          task.state({ id: "c1" }),
          (e) => e instanceof RpcStatusError && e.grpcCode === 5,
        );
        assert.equal((await typedClient(main, Task).connect({ id: "c1" })).shimPid, second);
        const log = await Deno.readTextFile(`${daemonDir}/daemon.log`);
        assert.match(log, /daemon died: starting it again/);
      } finally {
        await client.close();
        await main.close();
      }
      // a restarted daemon with nothing to serve exits once idle, and its supervisor after it
      const d = await shim(`${dir}/bin`, [...base, "-id", "c1", "-bundle", b1, "delete"], { cwd: b1, env });
      assert.equal(d.code, 0, d.stderr);
      for (let i = 0; i < 150 && await alive(sup); i++) await new Promise((r) => setTimeout(r, 100));
      assert.equal(await alive(sup), false, "the supervisor exits with its idle daemon");
      await assert.rejects(Deno.stat(`${daemonDir}/cocoon.sock`), Deno.errors.NotFound);
    } finally {
      await killDaemonOf(daemonDir);
      if (sup > 0 && await alive(sup)) Deno.kill(sup, "SIGKILL");
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name:
    "a second cocoon daemon on a served directory is refused; a daemon that cannot start ends its supervisor at once (no restart loop)",
  ...opts,
  async fn() {
    const { dir, daemonDir, env, base } = await world();
    const cocoon = Deno.env.get("COCOON_BIN") ?? "cocoon";
    try {
      await writeShimLauncher(`${dir}/bin`);
      const b1 = await makeBundle(dir, "c1");
      const s1 = await shim(`${dir}/bin`, [...base, "-id", "c1", "start"], { cwd: b1, env });
      assert.equal(s1.code, 0, s1.stderr);
      const second = await new Deno.Command(cocoon, {
        args: ["daemon", "--dir", daemonDir],
        env,
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.notEqual(second.code, 0);
      assert.match(new TextDecoder().decode(second.stderr), /already serves/);
      assert.ok(
        await alive(Number(await Deno.readTextFile(`${daemonDir}/supervisor.pid`))),
        "the first one lives on",
      );
      const d = await shim(`${dir}/bin`, [...base, "-id", "c1", "-bundle", b1, "delete"], { cwd: b1, env });
      assert.equal(d.code, 0, d.stderr);

      const bad = `${dir}/bad.toml`;
      await Deno.writeTextFile(bad, "[hypervisor.qemu]\nno_such_key = 1\n");
      const t0 = performance.now();
      const failed = await new Deno.Command(cocoon, {
        args: ["daemon", "--dir", `${dir}/d2`],
        env: { ...env, COCOON_CONFIG: bad },
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(failed.code, 1);
      assert.ok(performance.now() - t0 < 20_000, "no restart loop");
      const log = await Deno.readTextFile(`${dir}/d2/daemon.log`);
      assert.match(log, /daemon failed to start/);
      assert.match(log, /no_such_key/, "the daemon's own error is in the log");
      for (const f of ["cocoon.sock", "supervisor.sock", "supervisor.pid"]) {
        await assert.rejects(Deno.stat(`${dir}/d2/${f}`), Deno.errors.NotFound, f);
      }
    } finally {
      await killDaemonOf(daemonDir);
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
