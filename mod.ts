/**
 * Cocoon as a library: the sandbox API (classic Kata virtcontainers calls in TypeScript style),
 * the plugin contract for plugin authors, the error family, branded ids and configuration loading.
 *
 * Every sandbox is one microVM with its guest agent; containers run inside it. Errors are
 * {@link RuntimeError}s with a gRPC-style `code` (`NotFound`, `FailedPrecondition`, ...).
 *
 * ```ts
 * import { createSandbox, fetchSandbox } from "./mod.ts";
 *
 * export async function hello(rootfs: string): Promise<string> {
 *   // Configuration: COCOON_CONFIG, /etc/cocoon/configuration.toml or the built-in one.
 *   const sb = await createSandbox({ vcpus: 1, memoryMiB: 512 });
 *   await sb.createContainer({ id: "hello", rootfs, args: ["echo", "hi"] });
 *   const init = await sb.startContainer("hello");
 *   const out = new Response(init.io.stdout).text();
 *   const status = await init.wait(); // exit code, or 128 + signal
 *   await sb.release(); // the VM keeps running; any process may fetch it now
 *
 *   const again = await fetchSandbox(sb.id);
 *   await again.delete(); // containers, VM, shares, state: all gone
 *   return `${status}: ${await out}`;
 * }
 * ```
 *
 * @module
 */
export { createSandbox, fetchSandbox, listSandboxes, Process, Sandbox } from "./runtime/api/library/mod.ts";
export type {
  BlockDeviceConfig,
  ConnectOptions,
  ContainerConfig,
  ContainerInfo,
  ContainerStats,
  ContainerStatus,
  DeviceConfig,
  DeviceInfo,
  InterfaceConfig,
  IpAddress,
  NetworkInterface,
  ProcessConfig,
  ProcessStatus,
  ProcessStreams,
  Route,
  SandboxConfig,
  SandboxEvent,
  SandboxInfo,
  SandboxStatus,
  WindowSize,
} from "./runtime/api/library/mod.ts";
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
