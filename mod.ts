/**
 * Cocoon as a library: the plugin contract for plugin authors, the error family, branded ids and
 * configuration loading. The Kata-style sandbox API (createSandbox, fetchSandbox, ...) is added here
 * as the sandbox core lands.
 *
 * @module
 */
export type {
  AgentAddress,
  AttachedDevice,
  Device,
  GuestStorage,
  HostCheck,
  Hypervisor,
  HypervisorCapabilities,
  MetadataStore,
  NetworkAttachment,
  NetworkBackend,
  NetworkEndpoint,
  OciMount,
  PluginContext,
  PluginKind,
  PluginManifest,
  PluginModule,
  StorageBackend,
  Vm,
  VmConfig,
  VmExit,
  VmState,
} from "./plugins/types.ts";
export {
  AgentError,
  ConfigError,
  type ErrorCode,
  GuestImageError,
  HypervisorError,
  isRuntimeError,
  PluginError,
  ProtocolError,
  RuntimeError,
  SandboxError,
} from "./runtime/errors.ts";
export {
  type ContainerId,
  containerId,
  type DeviceId,
  deviceId,
  type ExecId,
  execId,
  type MacAddress,
  macAddress,
  type SandboxId,
  sandboxId,
} from "./runtime/ids.ts";
export { loadConfig, type LoadConfigOptions } from "./runtime/config/load.ts";
export { applyAnnotations } from "./runtime/config/annotations.ts";
export type { ResolvedConfig } from "./runtime/config/schema.ts";
export { createLogger, type Logger } from "./runtime/log/logger.ts";
export { createRegistry, type PluginRegistry } from "./runtime/plugins/registry.ts";
export { loadPlugin } from "./runtime/plugins/loader.ts";
