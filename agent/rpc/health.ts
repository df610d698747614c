/**
 * Health service: Check (liveness) and Version.
 *
 * @module
 */
import { Health, ServingStatus } from "../../runtime/protocol/gen/cocoon/agent/v1/health_pb.ts";
import type { UnaryHandler } from "../../runtime/protocol/ttrpc/server.ts";
import { AGENT_PROTOCOL_VERSION, AGENT_VERSION, type AgentCore } from "../core.ts";
import { unary } from "./_codec.ts";

export function healthHandlers(core: AgentCore): [string, UnaryHandler][] {
  return [
    unary(Health.method.check, () => ({ status: ServingStatus.SERVING })),
    unary(Health.method.version, async () => ({
      agentVersion: AGENT_VERSION,
      protocolVersion: AGENT_PROTOCOL_VERSION,
      kernelRelease: (await core.env.fs.readTextFile(`${core.paths.proc}/sys/kernel/osrelease`).catch(() =>
        ""
      )).trim(),
    })),
  ];
}
