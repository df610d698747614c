/**
 * Sandbox and container RPCs: CreateSandbox, DestroySandbox, CreateContainer, StartContainer,
 * RemoveContainer, UpdateContainer, StatsContainer, PauseContainer, ResumeContainer, GetOOMEvent.
 * Generated types stop here: each handler translates to a container operation.
 *
 * @module
 */
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { RuntimeError } from "../../runtime/errors.ts";
import { containerId } from "../../runtime/ids.ts";
import { Agent } from "../../runtime/protocol/gen/cocoon/agent/v1/agent_pb.ts";
import type { UnaryHandler } from "../../runtime/protocol/ttrpc/server.ts";
import { createContainer } from "../container/create.ts";
import { deleteContainer } from "../container/delete.ts";
import { killProcess } from "../container/kill.ts";
import { pauseContainer, resumeContainer } from "../container/pause.ts";
import { startContainer } from "../container/start.ts";
import { containerStats } from "../container/stats.ts";
import { updateContainer } from "../container/update.ts";
import type { AgentCore } from "../core.ts";
import { runToEnd } from "../sys/command.ts";
import { jsonObject, unary } from "./_codec.ts";
import { mountAll, unmountAll } from "./storage.ts";

async function loadModule(core: AgentCore, name: string, params: readonly string[]): Promise<void> {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(name)) {
    throw new RuntimeError("InvalidArgument", `Invalid kernel module name "${name.slice(0, 64)}"`);
  }
  const r = await runToEnd(core.env.runner, ["modprobe", name, ...params]);
  if (r.code !== 0) {
    throw new RuntimeError(
      "Internal",
      `Cannot load kernel module "${name}": modprobe exited with code ${r.code}: ${
        r.stderr.trim().slice(0, 300)
      }`,
    );
  }
}

export function containerHandlers(core: AgentCore): [string, UnaryHandler][] {
  const { env, table } = core;
  return [
    unary(Agent.method.createSandbox, async (req) => {
      if (req.guestTime) core.setTime(timestampDate(req.guestTime));
      core.sandboxId = req.sandboxId;
      if (req.hostname) await env.fs.writeTextFile(`${core.paths.proc}/sys/kernel/hostname`, req.hostname);
      if (req.dns.length > 0) {
        const lines = req.dns.map((l) => l.replace(/[\r\n]/g, " ").slice(0, 256)).slice(0, 64);
        await env.fs.writeTextFile(`${core.paths.etc ?? "/etc"}/resolv.conf`, lines.join("\n") + "\n");
      }
      for (const m of req.kernelModules) await loadModule(core, m.name, m.parameters);
      await mountAll(core, "", req.storages);
      core.log.info("sandbox created", { sandbox: req.sandboxId, storages: req.storages.length });
      return {};
    }),
    unary(Agent.method.destroySandbox, async (req) => {
      for (const c of table.list()) {
        await deleteContainer(env, table, c.id, { force: true }).catch((e) =>
          core.log.warn("delete failed", { error: e })
        );
        await unmountAll(core, c.id);
      }
      await unmountAll(core, "");
      core.log.info("sandbox destroyed; shutting down", { sandbox: core.sandboxId ?? req.sandboxId });
      // After the reply has left: the agent exits and /init's runner powers the guest off.
      setTimeout(() => core.shutdown(), 200);
      return {};
    }),
    unary(Agent.method.createContainer, async (req) => {
      const id = containerId(req.containerId);
      const spec = jsonObject(req.ociSpecJson, `OCI spec of container "${id}"`);
      const bundle = req.guestBundle || `${core.bundleRoot}/${id}`;
      await Deno.mkdir(bundle, { recursive: true });
      await mountAll(core, id, req.storages);
      try {
        const c = await createContainer(env, table, { id, bundle, spec });
        const w = req.stdio?.window;
        if (c.init.terminal && w && w.rows > 0 && w.columns > 0) c.init.resize(w.rows, w.columns);
        return { pid: c.init.pid };
      } catch (e) {
        await unmountAll(core, id);
        throw e;
      }
    }),
    unary(Agent.method.startContainer, async (req) => {
      const c = await startContainer(env, table, req.containerId);
      return { pid: c.init.pid };
    }),
    unary(Agent.method.removeContainer, async (req, ctx) => {
      const c = table.get(req.containerId);
      if (!c.init.exitStatus && c.phase !== "created" && req.timeoutSecs > 0) {
        await killProcess(env, table, { containerId: c.id, execId: "", signal: 15, all: true }).catch(
          () => {},
        );
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([
          c.init.exited.catch(() => {}),
          new Promise<void>((r) => (timer = setTimeout(r, req.timeoutSecs * 1000))),
          new Promise<void>((r) => ctx.signal.addEventListener("abort", () => r(), { once: true })),
        ]);
        clearTimeout(timer);
      }
      await deleteContainer(env, table, c.id, { force: true });
      await unmountAll(core, c.id);
      return {};
    }),
    unary(Agent.method.updateContainer, async (req) => {
      await updateContainer(env, table, req.containerId, jsonObject(req.resourcesJson, "resources"));
      return {};
    }),
    unary(Agent.method.statsContainer, async (req) => {
      const s = await containerStats(env, table, req.containerId);
      const big = (n: number) => BigInt(Math.max(0, Math.trunc(n)));
      return {
        stats: {
          ...(s.cpu
            ? {
              cpu: { usageNs: big(s.cpu.usageNs), userNs: big(s.cpu.userNs), systemNs: big(s.cpu.systemNs) },
            }
            : {}),
          ...(s.memory
            ? {
              memory: {
                usageBytes: big(s.memory.usage),
                limitBytes: big(s.memory.limit),
                maxUsageBytes: big(s.memory.maxUsage),
                cacheBytes: big(s.memory.stat["file"] ?? s.memory.stat["cache"] ?? 0),
                oomKills: big(s.memory.oomKills),
              },
            }
            : {}),
          ...(s.pids ? { pids: { current: big(s.pids.current), limit: big(s.pids.limit) } } : {}),
          sampledAt: timestampFromDate(new Date()),
        },
      };
    }),
    unary(Agent.method.pauseContainer, async (req) => {
      await pauseContainer(env, table, req.containerId);
      return {};
    }),
    unary(Agent.method.resumeContainer, async (req) => {
      await resumeContainer(env, table, req.containerId);
      return {};
    }),
    unary(Agent.method.getOOMEvent, async (_req, ctx) => {
      const id = await core.oom.next({ signal: ctx.signal });
      return { containerId: id, at: timestampFromDate(new Date()) };
    }),
  ];
}
