/**
 * The agent API end to end in one process: the host AgentClient talks ttRPC over an in-memory duplex
 * to the agent's services, which drive the real OCI runtimes of this host on a busybox rootfs.
 */
import assert from "node:assert/strict";
import { defaultSpec } from "../../agent/testing/default_spec.ts";
import type { OciRuntime } from "../../agent/container/env.ts";
import { type AgentCore, createAgentCore } from "../../agent/core.ts";
import { registerAgentServices } from "../../agent/rpc/services.ts";
import { holdSubreaper } from "../../agent/testing/subreaper.ts";
import { linuxContainerEnv } from "../../agent/sys/linux.ts";
import { hostRuntimes, makeBusyboxRootfs } from "../../agent/testing/rootfs.ts";
import { AgentClient } from "../../runtime/agent_client/client.ts";
import { containerId, execId } from "../../runtime/ids.ts";
import { createLogger, nullSink } from "../../runtime/log/logger.ts";
import { memoryDuplexPair } from "../../runtime/protocol/ttrpc/channel.ts";
import { TtrpcClient } from "../../runtime/protocol/ttrpc/client.ts";
import { TtrpcServer } from "../../runtime/protocol/ttrpc/server.ts";

const dec = new TextDecoder();
const enc = new TextEncoder();
const suffix = crypto.randomUUID().slice(0, 8);

interface Fx {
  agent: AgentClient;
  core: AgentCore;
  rootfs: string;
  times: Date[];
}

async function withAgent(rt: (dir: string) => OciRuntime, fn: (f: Fx) => Promise<void>): Promise<void> {
  const release = await holdSubreaper();
  const log = createLogger({ sink: nullSink });
  const dir = await Deno.makeTempDir({ prefix: "cocoon-agent-rpc-" });
  const env = linuxContainerEnv({ runtime: rt(dir), stateDir: `${dir}/state`, log });
  const times: Date[] = [];
  const core = createAgentCore({ env, bundleRoot: `${dir}/bundles`, setTime: (d) => void times.push(d) });
  const server = new TtrpcServer({ log });
  registerAgentServices(server, core);
  const [hostEnd, guestEnd] = memoryDuplexPair();
  const served = server.serveConnection(guestEnd);
  const agent = new AgentClient(new TtrpcClient(hostEnd, { log }));
  try {
    await Deno.mkdir(`${dir}/state`);
    await Deno.mkdir(env.runtime.root, { recursive: true });
    const rootfs = await makeBusyboxRootfs(dir);
    await fn({ agent, core, rootfs, times });
  } finally {
    for (const c of core.table.list()) await agent.removeContainer(containerId(c.id)).catch(() => {});
    agent.close();
    await server.close();
    await served;
    core[Symbol.dispose]();
    env[Symbol.dispose]();
    // deno test runs all modules in one process: stay a subreaper only while this test runs.
    await release();
    await Deno.remove(dir, { recursive: true });
  }
}

async function readAll(
  agent: AgentClient,
  p: { containerId: ReturnType<typeof containerId>; execId?: ReturnType<typeof execId> },
) {
  let text = "";
  for await (const c of agent.output(p)) text += dec.decode(c);
  return text;
}

for (const probe of hostRuntimes("/nonexistent")) {
  const rt = (dir: string): OciRuntime => hostRuntimes(dir).find((r) => r.kind === probe.kind) ?? probe;
  const t = (name: string, fn: (f: Fx) => Promise<void>) =>
    Deno.test({ name: `[${probe.kind}] ${name}`, fn: () => withAgent(rt, fn) });

  t(
    "AgentClient drives containers through the agent: output, exit 0/7/137, exec, pause, stats",
    async (f) => {
      const { agent } = f;
      assert.equal(await agent.check(), true);
      const v = await agent.version();
      assert.equal(v.protocolVersion, 1);
      assert.equal(v.agentVersion, "0.1.0");
      const details = await agent.guestDetails();
      assert.ok(details.onlineCpus >= 1);
      assert.ok(details.totalMemoryBytes > 0n);
      const ifs = await agent.listInterfaces();
      const lo = ifs.find((i) => i.name === "lo");
      assert.ok(lo && lo.up && lo.addresses.some((a) => a.address === "127.0.0.1" && a.prefix === 8));
      assert.ok(Array.isArray(await agent.listRoutes()));
      const when = new Date("2030-01-02T03:04:05Z");
      await agent.setGuestTime(when);
      assert.deepEqual(f.times, [when]);

      const ok = containerId(`rpc-ok-${suffix}`);
      const pid = await agent.createContainer({
        id: ok,
        spec: defaultSpec({ args: ["sh", "-c", "echo out; echo err >&2"], rootfs: f.rootfs }),
      });
      assert.ok(pid > 1);
      assert.equal(await agent.startContainer(ok), pid);
      assert.equal(await readAll(agent, { containerId: ok }), "out\n");
      assert.equal(dec.decode((await agent.readStderr({ containerId: ok })).data), "err\n");
      assert.equal((await agent.waitProcess({ containerId: ok })).exitStatus, 0);
      await agent.removeContainer(ok);

      const seven = containerId(`rpc-seven-${suffix}`);
      await agent.createContainer({
        id: seven,
        spec: defaultSpec({ args: ["sh", "-c", "exit 7"], rootfs: f.rootfs }),
      });
      await agent.startContainer(seven);
      assert.equal((await agent.waitProcess({ containerId: seven })).exitStatus, 7);
      await agent.removeContainer(seven);

      const c = containerId(`rpc-long-${suffix}`);
      await agent.createContainer({
        id: c,
        spec: defaultSpec({ args: ["sleep", "1000"], rootfs: f.rootfs }),
      });
      await agent.startContainer(c);
      const e1 = execId("cat");
      await agent.execProcess({
        containerId: c,
        execId: e1,
        process: {
          args: ["sh", "-c", "cat; exit 3"],
          cwd: "/",
          env: ["PATH=/bin"],
          user: { uid: 0, gid: 0 },
        },
      });
      assert.equal(await agent.writeStdin({ containerId: c, execId: e1 }, enc.encode("hello\n")), 6);
      await agent.closeStdin({ containerId: c, execId: e1 });
      assert.equal(await readAll(agent, { containerId: c, execId: e1 }), "hello\n");
      assert.equal((await agent.waitProcess({ containerId: c, execId: e1 })).exitStatus, 3);

      const tty = execId("tty");
      await agent.execProcess({
        containerId: c,
        execId: tty,
        process: { args: ["sh"], cwd: "/", env: ["PATH=/bin", "TERM=xterm"], user: { uid: 0, gid: 0 } },
        stdio: { terminal: true, window: { rows: 30, columns: 90 } },
      });
      await agent.writeStdin({ containerId: c, execId: tty }, enc.encode("stty size\n"));
      let text = "";
      while (!/30 90/.test(text)) {
        text += dec.decode(
          (await agent.readStdout({ containerId: c, execId: tty }, 4096, { timeoutMs: 10_000 })).data,
        );
      }
      await agent.resizeTty({ containerId: c, execId: tty }, { rows: 50, columns: 120 });
      await agent.writeStdin({ containerId: c, execId: tty }, enc.encode("stty size; exit 4\n"));
      while (!/50 120/.test(text)) {
        text += dec.decode(
          (await agent.readStdout({ containerId: c, execId: tty }, 4096, { timeoutMs: 10_000 })).data,
        );
      }
      assert.equal((await agent.waitProcess({ containerId: c, execId: tty })).exitStatus, 4);

      await agent.pauseContainer(c);
      await agent.resumeContainer(c);
      const stats = await agent.statsContainer(c);
      assert.ok(stats.cpu && stats.cpu.usageNs > 0n);
      const procs = await agent.listProcesses(c);
      assert.deepEqual(procs.map((p) => p.execId), [""]);
      await agent.signalProcess({ containerId: c }, 9);
      assert.equal((await agent.waitProcess({ containerId: c })).exitStatus, 137);
      await agent.removeContainer(c);
      assert.equal(f.core.table.list().length, 0);
    },
  );

  t("AgentClient.attach() streams stdin, stdout, stderr and the exit status with flow control", async (f) => {
    const { agent } = f;
    const c = containerId(`rpc-attach-${suffix}`);
    await agent.createContainer({ id: c, spec: defaultSpec({ args: ["sleep", "1000"], rootfs: f.rootfs }) });
    await agent.startContainer(c);
    const ref = { containerId: c, execId: execId("a1") };
    await agent.execProcess({
      ...ref,
      process: {
        args: ["sh", "-c", "cat; echo err >&2; yes | head -c 1048576; exit 6"],
        cwd: "/",
        env: ["PATH=/bin"],
      },
    });
    const a = await agent.attach(ref);
    assert.ok(a.pid > 1);
    await assert.rejects(
      agent.attach(ref),
      (e: unknown) => e instanceof Error && Reflect.get(e, "code") === "AlreadyExists",
    );
    await a.writeStdin(enc.encode("abc\n"));
    await a.closeStdin();
    const errText = new Response(a.stderr).text();
    let total = 0;
    let head = "";
    for await (const chunk of a.stdout) {
      if (head.length < 4) head += dec.decode(chunk).slice(0, 4);
      total += chunk.length;
    }
    assert.equal(head.slice(0, 4), "abc\n");
    assert.equal(total, 4 + 1048576);
    assert.equal(await errText, "err\n");
    assert.equal(await a.exit, 6);
    await agent.signalProcess({ containerId: c }, 9);
    await agent.waitProcess({ containerId: c });
    await agent.removeContainer(c);
  });

  t("AgentClient maps agent errors to codes", async (f) => {
    await assert.rejects(
      f.agent.startContainer(containerId("nope")),
      (e: unknown) => e instanceof Error && Reflect.get(e, "code") === "NotFound",
    );
    await assert.rejects(
      f.agent.createContainer({
        id: containerId(`bad-${suffix}`),
        spec: { process: {} },
        bundle: "/proc/nonexistent/x", // cannot be created: the create must fail
      }),
      (e: unknown) => e instanceof Error && Reflect.get(e, "code") !== undefined,
    );
  });
}
