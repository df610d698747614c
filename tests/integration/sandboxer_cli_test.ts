/**
 * `cocoon sandboxer` as a process: the daemon it starts (in `$COCOON_DAEMON_DIR`) listens on the
 * given socket, answers the Controller over gRPC and serves the Task API socket; on SIGTERM the
 * command exits 0, both sockets go, and the daemon, with nothing left to serve, exits.
 */
import assert from "node:assert/strict";
import { RuntimeError } from "../../runtime/errors.ts";
import { grpcUnaryClient } from "../../runtime/protocol/grpc.ts";
import { Controller } from "../../runtime/protocol/gen/containerd/services/sandbox/v1/sandbox_pb.ts";
import { repoRoot } from "../utils/cli.ts";
import { cocoonBin } from "../utils/program.ts";

async function until(what: string, ok: () => Promise<boolean>, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const exists = (p: string) => Deno.stat(p).then(() => true, () => false);

Deno.test({
  name: "cocoon sandboxer serves the Controller on --listen and exits 0 on SIGTERM, removing its sockets",
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "cocoon-sbx-cli-" });
    const sock = `${dir}/sandboxer.sock`;
    await Deno.writeTextFile(
      `${dir}/configuration.toml`,
      `[runtime]\nstate_dir = "${dir}/run"\ninternetworking_model = "none"\n`,
    );
    const child = new Deno.Command(cocoonBin(), {
      args: [
        "--config",
        `${dir}/configuration.toml`,
        "sandboxer",
        "--listen",
        sock,
        "--dir",
        `${dir}/task`,
        "--events-address",
        "",
      ],
      env: { COCOON_CONFIG: "", COCOON_DAEMON_DIR: `${dir}/daemon` },
      cwd: repoRoot,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const output = child.output();
    let daemonPid = 0;
    try {
      await until(
        "the sandboxer socket",
        async () => await exists(sock) && await exists(`${dir}/task/task.sock`),
        30_000,
      );
      const { client, close } = grpcUnaryClient(Controller, `unix://${sock}`);
      try {
        const p = await client.platform({ sandboxId: "x", sandboxer: "cocoon" }, { timeoutMs: 5000 });
        assert.equal(p.platform?.os, "linux");
        await assert.rejects(
          client.status({ sandboxId: "nope" }, { timeoutMs: 5000 }),
          (e) => e instanceof RuntimeError && e.code === "NotFound",
        );
        await client.create({ sandboxId: "sb1" }, { timeoutMs: 5000 });
        const st = await client.status({ sandboxId: "sb1" }, { timeoutMs: 5000 });
        assert.equal(st.state, "SANDBOX_NOTREADY");
      } finally {
        close();
      }
      daemonPid = Number(await Deno.readTextFile(`${dir}/daemon/daemon.pid`));
      assert.ok(daemonPid > 0 && daemonPid !== child.pid, "the daemon serves the Controller");
      child.kill("SIGTERM");
      const out = await output;
      const stderr = new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 0, stderr);
      assert.match(
        stderr,
        new RegExp(`listening on ${sock}, Task API at ttrpc\\+unix://${dir}/task/task\\.sock`),
      );
      assert.equal(await exists(sock), false);
      assert.equal(await exists(`${dir}/task/task.sock`), false);
      await until("the idle daemon to exit", async () => !(await exists(`/proc/${daemonPid}`)), 15_000);
    } finally {
      if (daemonPid > 0) {
        try {
          Deno.kill(daemonPid, "SIGKILL");
        } catch {
          // exited
        }
      }
      try {
        child.kill("SIGKILL");
      } catch {
        // exited
      }
      await output;
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "cocoon sandboxer refuses an unknown --flavour with exit 2 and names the choices",
  async fn() {
    const out = await new Deno.Command(cocoonBin(), {
      args: ["sandboxer", "--flavour", "kuasar"],
      env: { COCOON_CONFIG: "" },
      cwd: repoRoot,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const err = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 2, err);
    assert.match(err, /--flavour/);
    assert.match(err, /"kuasar"/);
    assert.match(err, /isulad/);
  },
});
