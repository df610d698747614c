/**
 * Registers the agent's services on a ttRPC server: `cocoon.agent.v1.Agent` (container, process,
 * stdio, network, guest groups) and `cocoon.agent.v1.Health`.
 *
 * @module
 */
import { Agent } from "../../runtime/protocol/gen/cocoon/agent/v1/agent_pb.ts";
import { Health } from "../../runtime/protocol/gen/cocoon/agent/v1/health_pb.ts";
import type { TtrpcServer } from "../../runtime/protocol/ttrpc/server.ts";
import type { AgentCore } from "../core.ts";
import { containerHandlers } from "./container.ts";
import { guestHandlers } from "./guest.ts";
import { healthHandlers } from "./health.ts";
import { networkHandlers } from "./network.ts";
import { processHandlers } from "./process.ts";
import { stdioHandlers } from "./stdio.ts";
import { stdioStreamHandler } from "./stdio_stream.ts";

export function registerAgentServices(server: TtrpcServer, core: AgentCore): void {
  server.register(
    Agent.typeName,
    Object.fromEntries([
      ...containerHandlers(core),
      ...processHandlers(core),
      ...stdioHandlers(core),
      ...networkHandlers(core),
      ...guestHandlers(core),
      stdioStreamHandler(core),
    ]),
  );
  server.register(Health.typeName, Object.fromEntries(healthHandlers(core)));
}
