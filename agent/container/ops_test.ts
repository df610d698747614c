import assert from "node:assert/strict";
import { fakeEnv } from "../sys/_fake.ts";
import { createContainer, specTerminal } from "./create.ts";
import { deleteContainer } from "./delete.ts";
import { execProcess } from "./exec.ts";
import { killProcess } from "./kill.ts";
import { pauseContainer, resumeContainer } from "./pause.ts";
import { startContainer } from "./start.ts";
import { ContainerTable } from "./state.ts";
import { updateContainer } from "./update.ts";
import { waitProcess } from "./wait.ts";
import { parseRuntimeState } from "../testing/runtime_state.ts";
import { parsePid } from "./_launch.ts";

const spec = { process: { args: ["sh"], terminal: false }, root: { path: "rootfs" } };

Deno.test({
  name: "createContainer() runs `crun create` with bundle, pid file and pipes, and watches the pid",
  permissions: "none",
  async fn() {
    const env = fakeEnv();
    const table = new ContainerTable();
    const c = await createContainer(env, table, { id: "c1", bundle: "/b/c1", spec });
    assert.deepEqual(env.runner.commands(), [
      "crun --root /run/crun create --bundle /b/c1 --pid-file /state/c1.pid c1",
    ]);
    assert.deepEqual(env.runner.calls[0]?.opts, { stdin: "piped", stdout: "piped", stderr: "piped" });
    assert.equal(env.fs.files.get("/b/c1/config.json"), JSON.stringify(spec));
    assert.equal(c.init.pid, 4001);
    assert.deepEqual(env.waiter.watched, [4001]);
    assert.equal(c.phase, "created");
    await assert.rejects(createContainer(env, table, { id: "c1", bundle: "/b/c1", spec }), {
      code: "AlreadyExists",
    });
  },
});

Deno.test({
  name: "createContainer() with process.terminal passes --console-socket and uses the received pty",
  permissions: "none",
  async fn() {
    const env = fakeEnv();
    const table = new ContainerTable();
    const c = await createContainer(env, table, {
      id: "t1",
      bundle: "/b/t1",
      spec: { process: { args: ["sh"], terminal: true } },
    });
    assert.match(env.runner.commands()[0] ?? "", /--console-socket \/state\/t1\.console\.sock t1$/);
    assert.deepEqual(env.consoles.listened, ["/state/t1.console.sock"]);
    assert.equal(c.init.terminal, true);
    c.init.resize(24, 80);
    assert.deepEqual(env.consoles.terminals[0]?.sizes, [{ rows: 24, cols: 80 }]);
    env.consoles.terminals[0]?.output("hi");
    assert.equal(new TextDecoder().decode((await c.init.stdout?.read(10)) ?? undefined), "hi");
  },
});

Deno.test({
  name: "createContainer() reports the runtime's error text and exit code when create fails",
  permissions: "none",
  async fn() {
    const env = fakeEnv({ reply: () => ({ code: 1, stderr: "some noise\ncannot mount rootfs\n" }) });
    await assert.rejects(
      createContainer(env, new ContainerTable(), { id: "c2", bundle: "/b", spec }),
      (e: unknown) => {
        assert.ok(e instanceof Error);
        assert.match(
          e.message,
          /^Cannot create container "c2": crun exited with code 1: some noise; cannot mount rootfs$/,
        );
        return true;
      },
    );
  },
});

Deno.test({
  name: "start, kill, pause, resume, update and delete run the matching runtime commands",
  permissions: "none",
  async fn() {
    const env = fakeEnv();
    const table = new ContainerTable();
    const c = await createContainer(env, table, { id: "c3", bundle: "/b", spec });
    await assert.rejects(pauseContainer(env, table, "c3"), { code: "FailedPrecondition" });
    await startContainer(env, table, "c3");
    await pauseContainer(env, table, "c3");
    assert.equal(c.phase, "paused");
    await resumeContainer(env, table, "c3");
    await updateContainer(env, table, "c3", { pids: { limit: 5 } });
    await killProcess(env, table, { containerId: "c3", execId: "", signal: 15, all: true });
    env.waiter.exit(c.init.pid, { kind: "signaled", signal: 15 });
    assert.equal(await waitProcess(table, "c3", ""), 143);
    assert.equal(c.phase, "stopped");
    await deleteContainer(env, table, "c3");
    assert.deepEqual(env.runner.commands().slice(1), [
      "crun --root /run/crun start c3",
      "crun --root /run/crun pause c3",
      "crun --root /run/crun resume c3",
      "crun --root /run/crun update --resources=/state/c3.resources.json c3",
      "crun --root /run/crun kill --all c3 15",
      "crun --root /run/crun delete c3",
    ]);
    assert.equal(table.has("c3"), false);
  },
});

Deno.test({
  name:
    "execProcess() uses --detach and a process file; killProcess() signals exec pids directly until reaped",
  permissions: "none",
  async fn() {
    const env = fakeEnv();
    const table = new ContainerTable();
    await createContainer(env, table, { id: "c4", bundle: "/b", spec });
    await startContainer(env, table, "c4");
    const p = await execProcess(env, table, { containerId: "c4", execId: "e1", process: { args: ["true"] } });
    assert.equal(
      env.runner.commands()[2],
      "crun --root /run/crun exec --process /state/c4.e1.process.json --detach --pid-file /state/c4.e1.pid c4",
    );
    assert.equal(env.fs.files.has("/state/c4.e1.process.json"), false);
    await killProcess(env, table, { containerId: "c4", execId: "e1", signal: 9 });
    assert.deepEqual(env.signals, [{ pid: p.pid, signal: 9 }]);
    env.waiter.exit(p.pid, { kind: "exited", code: 7 });
    assert.equal(await waitProcess(table, "c4", "e1"), 7);
    await assert.rejects(killProcess(env, table, { containerId: "c4", execId: "e1", signal: 9 }), {
      code: "NotFound",
    });
    assert.equal(env.signals.length, 1);
    await assert.rejects(
      execProcess(env, table, { containerId: "c4", execId: "e2", process: { args: [] } }),
      {
        code: "InvalidArgument",
      },
    );
  },
});

Deno.test({
  name: "waitProcess() rejects with Cancelled when its signal aborts",
  permissions: "none",
  async fn() {
    const env = fakeEnv();
    const table = new ContainerTable();
    await createContainer(env, table, { id: "c5", bundle: "/b", spec });
    const ac = new AbortController();
    const w = waitProcess(table, "c5", "", { signal: ac.signal });
    ac.abort();
    await assert.rejects(w, { code: "Cancelled" });
  },
});

Deno.test({
  name: "parsePid(), parseRuntimeState() and specTerminal() validate their input",
  permissions: "none",
  fn() {
    assert.equal(parsePid("123\n", "f"), 123);
    assert.throws(() => parsePid("0", "f"), { code: "Internal" });
    assert.throws(() => parsePid("12a", "f"));
    assert.deepEqual(parseRuntimeState('{"id":"a","pid":5,"status":"running","bundle":"/b","x":1}'), {
      id: "a",
      pid: 5,
      status: "running",
      bundle: "/b",
    });
    assert.throws(() => parseRuntimeState('{"id":"a"}'));
    assert.equal(specTerminal({ process: { terminal: true } }), true);
    assert.equal(specTerminal({ process: { terminal: "yes" } }), false);
    assert.equal(specTerminal(null), false);
  },
});

Deno.test({
  name: "createContainer() writes net.* sysctls to the guest (the pod's netns) and passes the others to crun",
  permissions: "none",
  async fn() {
    const env = fakeEnv();
    const table = new ContainerTable();
    const withSysctl = {
      ...spec,
      linux: {
        namespaces: [{ type: "pid" }],
        sysctl: { "net.ipv4.ip_local_port_range": "1024 65000", "kernel.shm_rmid_forced": "1" },
      },
    };
    await createContainer(env, table, { id: "s1", bundle: "/b/s1", spec: withSysctl });
    assert.equal(env.fs.files.get("/proc/sys/net/ipv4/ip_local_port_range"), "1024 65000");
    const written = JSON.parse(env.fs.files.get("/b/s1/config.json") ?? "{}");
    assert.deepEqual(written.linux.sysctl, { "kernel.shm_rmid_forced": "1" });
    await assert.rejects(
      createContainer(env, table, {
        id: "s2",
        bundle: "/b/s2",
        spec: { ...spec, linux: { sysctl: { "net.ipv4/../../x": "1" } } },
      }),
      { code: "InvalidArgument" },
    );
  },
});
