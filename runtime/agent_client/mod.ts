/**
 * Host-side client of the Cocoon guest agent.
 *
 * @module
 */
export { type AgentCallOptions, AgentClient, type AgentConnectOptions } from "./client.ts";
export type { AttachedProcess } from "./attach.ts";
export type * from "./types.ts";
