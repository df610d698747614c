/**
 * The part of the guest agent client the sandbox core uses, so tests can stand in an in-memory
 * agent, and the connector that reaches a VM's agent.
 *
 * @module
 */
import type { AgentAddress } from "../../plugins/types.ts";
import type { AgentClient } from "../agent_client/client.ts";
import type { Logger } from "../log/logger.ts";

export type AgentApi =
  & Pick<
    AgentClient,
    | "closed"
    | "close"
    | "check"
    | "createSandbox"
    | "destroySandbox"
    | "createContainer"
    | "startContainer"
    | "removeContainer"
    | "pauseContainer"
    | "resumeContainer"
    | "updateContainer"
    | "statsContainer"
    | "execProcess"
    | "signalProcess"
    | "waitProcess"
    | "listProcesses"
    | "writeStdin"
    | "readStdout"
    | "readStderr"
    | "closeStdin"
    | "resizeTty"
    | "output"
    | "listInterfaces"
    | "updateInterface"
    | "listRoutes"
    | "updateRoutes"
    | "nextOomEvent"
    | "guestDetails"
  >
  & Partial<Pick<AgentClient, "addArpNeighbors" | "copyFile">>;

export interface AgentConnectOptions {
  /** Give up after this long (config `agent.dial_timeout`). */
  readonly timeoutMs: number;
  readonly log: Logger;
  readonly signal?: AbortSignal;
}

/** Connects to the agent at `address`, resolving once it answers. */
export type AgentConnector = (address: AgentAddress, opts: AgentConnectOptions) => Promise<AgentApi>;
