/**
 * Process RPCs: ExecProcess, SignalProcess, WaitProcess, ListProcesses.
 *
 * @module
 */
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Agent } from "../../runtime/protocol/gen/cocoon/agent/v1/agent_pb.ts";
import type { UnaryHandler } from "../../runtime/protocol/ttrpc/server.ts";
import { execProcess } from "../container/exec.ts";
import { killProcess } from "../container/kill.ts";
import { waitProcess } from "../container/wait.ts";
import type { AgentCore } from "../core.ts";
import { jsonObject, unary } from "./_codec.ts";

export function processHandlers(core: AgentCore): [string, UnaryHandler][] {
  const { env, table } = core;
  return [
    unary(Agent.method.execProcess, async (req) => {
      const process = jsonObject(req.processJson, `process of exec "${req.execId}"`);
      if (req.stdio?.terminal) process["terminal"] = true;
      const p = await execProcess(env, table, { containerId: req.containerId, execId: req.execId, process });
      const w = req.stdio?.window;
      if (p.terminal && w && w.rows > 0 && w.columns > 0) p.resize(w.rows, w.columns);
      return { pid: p.pid };
    }),
    unary(Agent.method.signalProcess, async (req) => {
      await killProcess(env, table, {
        containerId: req.containerId,
        execId: req.execId,
        signal: req.signal,
        all: req.all,
      });
      return {};
    }),
    unary(Agent.method.waitProcess, async (req, ctx) => {
      const p = table.get(req.containerId).process(req.execId);
      const code = await waitProcess(table, req.containerId, req.execId, { signal: ctx.signal });
      return { exitStatus: code, exitedAt: timestampFromDate(new Date()), pid: p.pid };
    }),
    unary(Agent.method.listProcesses, (req) => {
      const c = table.get(req.containerId);
      const all = [c.init, ...c.execs.values()].filter((p) => !p.exitStatus);
      return { processes: all.map((p) => ({ pid: p.pid, execId: p.execId })) };
    }),
  ];
}
