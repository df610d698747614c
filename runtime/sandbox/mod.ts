/**
 * The sandbox core: Sandbox / Container / Process state machines driving the hypervisor, storage,
 * network and store plugins and the guest agent. The front doors (OCI CLI and holder, shim daemon,
 * sandboxer, mod.ts, HTTP API) use only what is exported here.
 *
 * @module
 */
export { Sandbox } from "./sandbox.ts";
export { type BundleSandbox, createFromBundle, type CreateFromBundleOptions } from "./from_bundle.ts";
export {
  defaultAgentConnector,
  hypervisorPluginConfig,
  type InjectedPlugins,
  openSandboxRuntime,
  type OpenSandboxRuntimeOptions,
  type SandboxRuntime,
} from "./runtime.ts";
export type { AgentApi, AgentConnectOptions, AgentConnector } from "./agent_port.ts";
export type { CreateSandboxOptions } from "./create_sandbox.ts";
export { sharedFsPlugin } from "./create_sandbox.ts";
export type { CreateContainerOptions } from "./create_container.ts";
export type { DeleteContainerOptions } from "./delete.ts";
export type { DeleteSandboxOptions } from "./delete_sandbox.ts";
export type { ExecOptions } from "./exec.ts";
export type { FetchSandboxOptions } from "./fetch_sandbox.ts";
export { type KillOptions, parseSignal } from "./kill.ts";
export type { ProcessIo } from "./stdio.ts";
export { mergeRoutes, type NetworkRescanReport, withCharDevices } from "./network.ts";
export type { ExitInfo, SandboxEvent } from "./events.ts";
export type {
  ContainerRecord,
  ExecRecord,
  PreparedStorage,
  SandboxRecord,
  SharedStorage,
} from "./records.ts";
export {
  canCreateContainer,
  canDelete,
  canDeleteSandbox,
  canExec,
  canKill,
  canPause,
  canPauseSandbox,
  canResume,
  canResumeSandbox,
  canStart,
  type ContainerStatus,
  isAlive,
  type ProcessStatus,
  type SandboxStatus,
} from "./status.ts";
export { consoleLogPath, sandboxDir, sandboxesRoot, vmStateDir } from "./layout.ts";
export { SHARED_DRIVER } from "../../plugins/types.ts";
export type { SandboxStorage } from "./storage_port.ts";
