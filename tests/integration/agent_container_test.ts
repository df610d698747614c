/**
 * Container operations of the guest agent against the real OCI runtimes of this host (crun, runc)
 * and a busybox rootfs: exit statuses through the subreaper, pipes, TTY, pause, stats, update,
 * nested user namespaces.
 */
import assert from "node:assert/strict";
import { createContainer } from "../../agent/container/create.ts";
import { defaultSpec } from "../../agent/testing/default_spec.ts";
import { deleteContainer } from "../../agent/container/delete.ts";
import type { ContainerEnv, OciRuntime } from "../../agent/container/env.ts";
import { execProcess } from "../../agent/container/exec.ts";
import { killProcess } from "../../agent/container/kill.ts";
import { pauseContainer, resumeContainer } from "../../agent/container/pause.ts";
import { startContainer } from "../../agent/container/start.ts";
import { ContainerTable } from "../../agent/container/state.ts";
import { containerStats } from "../../agent/container/stats.ts";
import { containerStatus } from "../../agent/testing/runtime_state.ts";
import { updateContainer } from "../../agent/container/update.ts";
import { OomWatcher } from "../../agent/container/oom.ts";
import { waitProcess } from "../../agent/container/wait.ts";
import { linuxContainerEnv } from "../../agent/sys/linux.ts";
import { holdSubreaper } from "../../agent/testing/subreaper.ts";
import { hostRuntimes, makeBusyboxRootfs } from "../../agent/testing/rootfs.ts";
import { createLogger, nullSink } from "../../runtime/log/logger.ts";

const dec = new TextDecoder();
const enc = new TextEncoder();
const suffix = crypto.randomUUID().slice(0, 8);

interface Fixture {
  env: ContainerEnv;
  table: ContainerTable;
  rootfs: string;
  dir: string;
}

async function withRuntime(
  rt: (dir: string) => OciRuntime,
  fn: (f: Fixture) => Promise<void>,
): Promise<void> {
  const release = await holdSubreaper();
  const dir = await Deno.makeTempDir({ prefix: "cocoon-agent-it-" });
  const env = linuxContainerEnv({
    runtime: rt(dir),
    stateDir: `${dir}/state`,
    log: createLogger({ sink: nullSink }),
  });
  const table = new ContainerTable();
  try {
    await Deno.mkdir(`${dir}/state`);
    await Deno.mkdir(env.runtime.root, { recursive: true });
    const rootfs = await makeBusyboxRootfs(dir);
    await fn({ env, table, rootfs, dir });
  } finally {
    for (const c of table.list()) await deleteContainer(env, table, c.id, { force: true }).catch(() => {});
    env[Symbol.dispose]();
    // deno test runs all modules in one process: stay a subreaper only while this test runs.
    await release();
    await Deno.remove(dir, { recursive: true });
  }
}

async function create(
  f: Fixture,
  name: string,
  args: string[],
  extra: { terminal?: boolean; resources?: Record<string, unknown> } = {},
) {
  const id = `${name}-${suffix}`;
  const bundle = `${f.dir}/bundles/${id}`;
  await Deno.mkdir(bundle, { recursive: true });
  const spec = defaultSpec({
    args,
    rootfs: f.rootfs,
    ...(extra.terminal ? { terminal: true } : {}),
    ...(extra.resources ? { resources: extra.resources } : {}),
  });
  return await createContainer(f.env, f.table, { id, bundle, spec });
}

async function readUntil(
  read: () => Promise<Uint8Array | null>,
  needle: RegExp,
  limitMs = 10_000,
): Promise<string> {
  let text = "";
  const deadline = Date.now() + limitMs;
  while (!needle.test(text)) {
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${needle}: got ${JSON.stringify(text)}`);
    }
    const c = await read();
    if (!c) break;
    text += dec.decode(c);
  }
  return text;
}

for (const probe of hostRuntimes("/nonexistent")) {
  const rt = (dir: string): OciRuntime => hostRuntimes(dir).find((r) => r.kind === probe.kind) ?? probe;
  const t = (name: string, fn: (f: Fixture) => Promise<void>) =>
    Deno.test({ name: `[${probe.kind}] ${name}`, fn: () => withRuntime(rt, fn) });

  t("createContainer() + startContainer() give stdout and exit code 0, 7 and 137", async (f) => {
    const ok = await create(f, "ok", ["sh", "-c", "echo hello; echo oops >&2"]);
    const seven = await create(f, "seven", ["sh", "-c", "exit 7"]);
    const killed = await create(f, "killed", ["sleep", "1000"]);
    assert.equal(
      (await containerStatus(f.env, f.table, ok.id, { queryRuntime: true })).runtime?.status,
      "created",
    );
    for (const c of [ok, seven, killed]) await startContainer(f.env, f.table, c.id);
    const out = dec.decode(await ok.init.stdout!.readAll());
    const err = dec.decode(await ok.init.stderr!.readAll());
    assert.equal(out, "hello\n");
    assert.equal(err, "oops\n");
    assert.equal(await waitProcess(f.table, ok.id, ""), 0);
    assert.equal(await waitProcess(f.table, seven.id, ""), 7);
    await killProcess(f.env, f.table, { containerId: killed.id, execId: "", signal: 9 });
    assert.equal(await waitProcess(f.table, killed.id, ""), 137);
    assert.equal((await containerStatus(f.env, f.table, killed.id)).phase, "stopped");
    for (const c of [ok, seven, killed]) await deleteContainer(f.env, f.table, c.id);
    assert.equal(f.table.list().length, 0);
  });

  t("execProcess() pipes stdin to stdout and reports exit codes and SIGKILL", async (f) => {
    const c = await create(f, "exec", ["sleep", "1000"]);
    await startContainer(f.env, f.table, c.id);
    const cat = await execProcess(f.env, f.table, {
      containerId: c.id,
      execId: "cat",
      process: { args: ["sh", "-c", "cat; exit 9"], cwd: "/", env: ["PATH=/bin"], user: { uid: 0, gid: 0 } },
    });
    await cat.stdin!.write(enc.encode("ping\n"));
    await cat.stdin!.close();
    assert.equal(dec.decode(await cat.stdout!.readAll()), "ping\n");
    assert.equal(await waitProcess(f.table, c.id, "cat"), 9);
    const sleeper = await execProcess(f.env, f.table, {
      containerId: c.id,
      execId: "sleeper",
      process: { args: ["sleep", "1000"], cwd: "/", env: ["PATH=/bin"], user: { uid: 0, gid: 0 } },
    });
    await killProcess(f.env, f.table, { containerId: c.id, execId: "sleeper", signal: 9 });
    assert.equal(await waitProcess(f.table, c.id, sleeper.execId), 137);
    // PID 1 of the container ignores SIGTERM without a handler: SIGKILL ends it.
    await killProcess(f.env, f.table, { containerId: c.id, execId: "", signal: 9 });
    assert.equal(await waitProcess(f.table, c.id, ""), 137);
  });

  t("execProcess() with a terminal resizes the pty and returns the exit code", async (f) => {
    const c = await create(f, "tty", ["sleep", "1000"]);
    await startContainer(f.env, f.table, c.id);
    const p = await execProcess(f.env, f.table, {
      containerId: c.id,
      execId: "tty",
      process: {
        args: ["sh"],
        terminal: true,
        cwd: "/",
        env: ["PATH=/bin", "TERM=xterm"],
        user: { uid: 0, gid: 0 },
      },
    });
    assert.equal(p.terminal, true);
    p.resize(40, 100);
    await p.stdin!.write(enc.encode("tty; stty size\n"));
    const text = await readUntil(() => p.stdout!.read(4096), /40 100/);
    assert.match(text, /\/dev\/pts\/\d+/);
    await p.stdin!.write(enc.encode("exit 5\n"));
    assert.equal(await waitProcess(f.table, c.id, "tty"), 5);
  });

  t("createContainer() with a terminal gives the init process a pty", async (f) => {
    const c = await create(f, "ttyinit", ["sh", "-c", "tty && exit 3"], { terminal: true });
    await startContainer(f.env, f.table, c.id);
    const text = await readUntil(() => c.init.stdout!.read(4096), /\/dev\/pts\/\d+/);
    assert.match(text, /\/dev\/pts\/0/);
    assert.equal(await waitProcess(f.table, c.id, ""), 3);
  });

  t("pauseContainer() freezes and resumeContainer() thaws; stats and unshare -U work", async (f) => {
    const c = await create(f, "pause", ["sh", "-c", "while true; do echo tick; sleep 0.1; done"]);
    await startContainer(f.env, f.table, c.id);
    await readUntil(() => c.init.stdout!.read(4096), /tick/);
    await pauseContainer(f.env, f.table, c.id);
    assert.equal(
      (await containerStatus(f.env, f.table, c.id, { queryRuntime: true })).runtime?.status,
      "paused",
    );
    await resumeContainer(f.env, f.table, c.id);
    assert.equal(
      (await containerStatus(f.env, f.table, c.id, { queryRuntime: true })).runtime?.status,
      "running",
    );
    await readUntil(() => c.init.stdout!.read(4096), /tick/);
    const stats = await containerStats(f.env, f.table, c.id);
    assert.ok(stats.cpu && stats.cpu.usageNs > 0, `cpu usage: ${JSON.stringify(stats)}`);
    if (probe.kind === "runc") assert.ok(stats.memory && stats.memory.usage > 0);
    const u = await execProcess(f.env, f.table, {
      containerId: c.id,
      execId: "userns",
      process: {
        args: ["unshare", "-U", "id", "-u"],
        cwd: "/",
        env: ["PATH=/bin"],
        user: { uid: 0, gid: 0 },
      },
    });
    assert.equal(dec.decode(await u.stdout!.readAll()).trim(), "65534");
    assert.equal(await waitProcess(f.table, c.id, "userns"), 0);
    if (probe.kind === "runc") {
      await updateContainer(f.env, f.table, c.id, { pids: { limit: 42 } });
      const after = await containerStats(f.env, f.table, c.id);
      assert.equal(after.pids?.limit, 42);
    }
    await deleteContainer(f.env, f.table, c.id, { force: true });
    assert.equal(f.table.has(c.id), false);
  });

  if (probe.kind === "runc") {
    // crun here has no memory controller (v1-bound on this hybrid host); runc uses v1 memory.
    t("OomWatcher.next() reports the container whose process the kernel OOM-killed", async (f) => {
      const c = await create(
        f,
        "oom",
        ["sh", "-c", "(x=$(yes | head -c 400000000); echo ${#x}); sleep 1000"],
        {
          resources: { memory: { limit: 16 * 1024 * 1024 } },
        },
      );
      using oom = new OomWatcher(f.env, f.table, { intervalMs: 50 });
      await startContainer(f.env, f.table, c.id);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const got = await Promise.race([
        oom.next(),
        new Promise<string>((r) => (timer = setTimeout(() => r("timeout"), 20_000))),
      ]);
      clearTimeout(timer);
      assert.equal(got, c.id);
      assert.equal(c.phase, "running", "only the memory hog died, not the container init");
    });
  }
}
